"""Response rules on a streamed answer: mask (or stop) personal data the model generates.

A stream cannot be masked after it was sent, so text that could hold a span under a
``mask``/``block`` response rule is held back until the analyzer has seen it with enough
text after it; everything else is released at once.

- Eager mode (every masked type is an identifier, contact detail, card or secret: all carry
  digits, ``@`` or a PEM marker): plain words are released as they arrive; holding starts at
  the first token with a digit, ``@`` or ``-----``, so ordinary prose streams undelayed.
- Conservative mode (a rule masks names or special categories, which are plain words): text
  is released in windows, ``HOLD`` characters behind the stream.

Held text is analysed off the event loop once ``WINDOW`` characters are pending, with the
last released characters as context, and released up to a whitespace at least ``HOLD``
characters before its end that no span crosses. The end of a choice releases everything.
Placeholders are restored afterwards (``StreamRestoring``): the analyzer sees them as the
model wrote them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.errors import PolicyBlocked, UpstreamError, render_sse
from gateway.metrics import POLICY_ACTIONS
from gateway.privacy.analysis import AnalysisService
from gateway.privacy.answer import StreamRestoring, event_json
from gateway.privacy.applied import Applied
from gateway.upstream.relay import RelaySource
from policies import entities
from policies.decide import counts, decide, mask_token, rewrite
from policies.model import Action, Direction, Policy
from policies.spans import Span

WINDOW = 192
HOLD = 64
TRAILING = 32
CONTEXT = 64
_EAGER_TYPES = entities.IDENTIFIERS | entities.CONTACT | {entities.CREDIT_CARD, entities.SECRET}
# A digit of any script (full-width ones too), an at sign of any width, a PEM marker.
_SUSPICIOUS = re.compile(r"\S*(?:[\d@\uff20]|-----)\S*")
_DATA = b"data: {"


def guarded_types(policy: Policy) -> frozenset[str]:
    """Types whose response rule changes or stops the answer (none in shadow mode)."""
    if policy.shadow:
        return frozenset()
    acting = (Action.MASK, Action.BLOCK)
    return frozenset(name for name, rule in policy.rules.items() if rule.response in acting)


@dataclass(slots=True)
class _Choice:
    pending: str = ""
    context: str = ""  # the last released characters, as the analyzer's left context


class AnswerGuard:
    def __init__(self, analysis: AnalysisService, applied: Applied) -> None:
        self._analysis = analysis
        self._applied = applied
        self._eager = guarded_types(applied.policy) <= _EAGER_TYPES
        self._choices: dict[int, _Choice] = {}

    async def feed(self, chunk: bytes) -> bytes:
        if _DATA not in chunk:
            return chunk
        out: list[bytes] = []
        for event in chunk.split(b"\n\n"):
            if event.startswith(_DATA) and not event.startswith(b'data: {"error"'):
                document = event_json(event)
                await self._choices_of(document)
                event = b"data: " + orjson.dumps(document)
            out.append(event)
        return b"\n\n".join(out)

    async def _choices_of(self, document: dict[str, Any]) -> None:
        for choice in document.get("choices") or []:
            delta = choice.get("delta")
            container, field = (delta, "content") if isinstance(delta, dict) else (choice, "text")
            piece = container.get(field)
            state = self._choices.setdefault(int(choice.get("index") or 0), _Choice())
            if isinstance(piece, str):
                state.pending += piece
            released = await self._release(state, final=choice.get("finish_reason") is not None)
            if isinstance(piece, str) or released:
                container[field] = released

    async def _release(self, state: _Choice, *, final: bool) -> str:
        text = state.pending
        if not text:
            return ""
        plain = self._plain_prefix(text, final=final)
        held = text[plain:]
        released = text[:plain]
        if held and (final or len(held) >= WINDOW or self._settled(held)):
            cut, masked = await self._analyse(state.context + released, held, final=final)
            released += masked
            held = held[cut:]
        state.pending = held
        state.context = (state.context + released)[-CONTEXT:]
        return released

    def _settled(self, held: str) -> bool:
        """Eager mode: enough plain words follow the last suspicious token to analyse it with
        the context words that come after identifiers in German ("..., meine Steuer-ID")."""
        if not self._eager:
            return False
        last_end = 0
        for found in _SUSPICIOUS.finditer(held):
            last_end = found.end()
        return len(held) - last_end >= TRAILING

    def _plain_prefix(self, text: str, *, final: bool) -> int:
        """How much can go without analysis: up to the first suspicious token (eager mode)."""
        if not self._eager:
            return 0
        found = _SUSPICIOUS.search(text)
        if found is not None:
            return found.start()
        if final:
            return len(text)
        # An unfinished last word may still grow a digit: hold it.
        last_space = max(text.rfind(" "), text.rfind("\n"))
        return last_space + 1

    async def _analyse(self, context: str, held: str, *, final: bool) -> tuple[int, str]:
        """(characters of ``held`` released, their masked text)."""
        policy = self._applied.policy
        tenant = self._applied.tenant
        (spans,) = await self._analysis.analyze([context + held], policy, tenant=tenant)
        offset = len(context)
        mine = [
            Span(s.start - offset, s.end - offset, s.entity, s.score)
            for s in spans
            if s.start >= offset
        ]
        hold = TRAILING if self._eager else HOLD
        cut = len(held) if final else _cut(held, mine, hold)
        decision = decide([s for s in mine if s.end <= cut], policy, Direction.RESPONSE)
        tally = counts([decision])
        self._applied.answer.update(tally)
        for (entity, action), n in tally.items():
            POLICY_ACTIONS.labels("response", entity, action, self._applied.mode).inc(n)
        if decision.blocked:
            raise PolicyBlocked(
                f"The answer contained data that your policy ({policy.id}) does not allow to be "
                f"returned: {', '.join(sorted(decision.blocked))}. The rest was withheld.",
                code="pii_blocked_in_answer",
            )
        masks = [(f.span, mask_token(f.span.entity)) for f in decision.to_rewrite()]
        return cut, rewrite(held[:cut], masks)


def _cut(held: str, spans: list[Span], hold: int) -> int:
    """A whitespace at least ``hold`` characters before the end that no span crosses."""
    end = len(held) - hold + 1
    cut = max(held.rfind(" ", 0, end), held.rfind("\n", 0, end))
    if cut <= 0:
        return 0
    for span in spans:
        if span.start < cut < span.end:
            cut = span.start
    return max(cut, 0)


class GuardedStream:
    """A relay source whose events pass the answer guard, then placeholder restoration."""

    def __init__(self, inner: RelaySource, guard: AnswerGuard, mapping: dict[str, str]) -> None:
        self.finish_on_disconnect = inner.finish_on_disconnect
        self._inner = inner
        self._guard = guard
        self._restore = StreamRestoring(mapping) if mapping else None

    async def events(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner.events():
            try:
                out = await self._guard.feed(chunk)
            except (PolicyBlocked, UpstreamError) as exc:  # withheld, or broken JSON
                yield render_sse(exc)
                return
            if self._restore is not None:
                out = self._restore(out)
            yield out

    async def aclose(self, *, client_gone: bool = False) -> None:
        await self._inner.aclose(client_gone=client_gone)
