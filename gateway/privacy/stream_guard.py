"""Response rules on a streamed answer: mask (or stop) personal data the model generates.

A stream cannot be masked after it was sent, so text that could hold a span under a
``mask``/``block`` response rule is held back until the analyzer has seen it with enough
text after it; everything else is released at once.

- Eager mode (every masked type is an identifier, contact detail, card or secret: all carry
  digits, ``@`` or a PEM marker): plain words are released as they arrive; holding starts at
  the first token with a digit, ``@`` or ``-----`` (or the short capitals before it that a
  number may join: "M AB 1234"), so ordinary prose streams undelayed. Held text goes as soon
  as later text can no longer make it part of a masked value (``hold_back``, issue 14): a
  number flows on once ended ("2024, "), a value that may still grow or be labelled waits;
  short plain numbers need no analysis (``hold_back.inert``), the rest is analysed first.
- Conservative mode (a rule masks names or special categories, which are plain words): text
  is released in windows, ``HOLD`` characters behind the stream.

Conservative mode: held text is analysed off the event loop once ``WINDOW`` characters are
pending, with the last released characters (unmasked) as context, and released up to a
whitespace at least ``HOLD`` characters before its end that no span crosses. The end of a
choice releases everything. A stream with logprobs is aligned after guard and restorer
(``logprobs``): its events are parsed.
Placeholders are restored afterwards (``StreamRestoring``): the analyzer sees them as the
model wrote them.

Per event (issue 13): most token events are plain text events of the shape the stream's
first events taught (``event_shape``), and most need no analysis when they arrive (eager
mode: no digit, "@" or PEM marker in the pending text; conservative mode: the window is not
full yet). Those are never parsed: their decoded text moves through the same hold-and-release
logic and, in ``GuardedStream``, the same restorer, and the engine's bytes are relayed as they
came unless the released text differs (in conservative mode, held events all become one
cached empty event). Everything else takes the parsing path, which stays the reference.

JSON texts (issue 14): tool calls' ``arguments`` are held and masked like the answer's text,
each call on its own, and flushed with the end of its choice. In a JSON text (those, and
the answer's text when the request asked for JSON: ``json_answers``) a ``JsonCursor``
follows what was released, so that a masked value becomes a JSON string, or ``null``, or
withholds the rest, as the request's schema allows; on the fast path that is one more
search per released piece, for JSON texts only.
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
from gateway.privacy.event_shape import EventShape, EventShapes
from gateway.privacy.hold_back import inert, letters_back, settled
from gateway.privacy.json_answers import PLAIN, AnswerFormats, JsonFormat
from gateway.privacy.logprobs import LogprobAligner, events_of, has_logprobs
from gateway.upstream.relay import RelaySource
from policies import entities
from policies.decide import counts, decide, mask_token, rewrite
from policies.jsontext import JsonCursor
from policies.model import Action, Direction, Policy
from policies.spans import Span

WINDOW = 192
HOLD = 64
TRAILING = 32
CONTEXT = 64
_EAGER_TYPES = entities.IDENTIFIERS | entities.CONTACT | {entities.CREDIT_CARD, entities.SECRET}
# A digit of any script (full-width ones too), an at sign of any width, a PEM marker.
_SUSPICIOUS = re.compile(r"\S*(?:[\d@\uff20]|-----)\S*")
# Whether there is one at all (the same characters, without extending to the whole token).
_ANY_SUSPICIOUS = re.compile(r"[\d@\uff20]|-----")
_DATA = b"data: {"


def guarded_types(policy: Policy) -> frozenset[str]:
    """Types whose response rule changes or stops the answer (none in shadow mode)."""
    if policy.shadow:
        return frozenset()
    acting = (Action.MASK, Action.BLOCK)
    return frozenset(name for name, rule in policy.rules.items() if rule.response in acting)


@dataclass(slots=True)
class _Text:
    """One streamed text: a choice's answer, or one tool call's arguments."""

    pending: str = ""
    context: str = ""  # the last released characters, unmasked: the analyzer's left context
    json: JsonFormat | None = None  # a JSON text: its schema
    cursor: JsonCursor | None = None  # a JSON text: where what was released stands
    # Eager mode: the pending text up to here is held by a span the last analysis found
    # running past what could go; analysing again before ``settled`` passes it is no use.
    floor: int = 0

    @classmethod
    def of(cls, json: JsonFormat | None) -> _Text:
        return cls(json=json, cursor=None if json is None else JsonCursor())


class AnswerGuard:
    """Holds back and analyses what the response rules may act on; releases the rest.

    ``feed`` takes each chunk of events. A plain text event of a shape learned from the
    stream (``event_shape``) whose text needs no analysis now is handled without a parse
    (``relay_plain``): its text, decoded, moves through the same hold-and-release logic,
    and the event is relayed as it came unless what is released differs from its text.
    Everything else (analysis due, the end of a choice, other events) is parsed.
    """

    def __init__(
        self, analysis: AnalysisService, applied: Applied, formats: AnswerFormats = PLAIN
    ) -> None:
        self._analysis = analysis
        self._applied = applied
        self._formats = formats
        self._eager = guarded_types(applied.policy) <= _EAGER_TYPES
        self._choices: dict[int, _Text] = {}
        self._calls: dict[tuple[int, int], _Text] = {}  # (choice, call) -> its arguments
        self._shapes = EventShapes()

    def held(self, index: int, field: str = "") -> int:
        """Characters of choice ``index``'s text the guard holds back."""
        state = self._choices.get(index)
        return len(state.pending) if state is not None else 0

    @staticmethod
    def text(json: JsonFormat | None = None) -> _Text:
        """A new text for ``release`` (the Responses API's stream keeps its own texts)."""
        return _Text.of(json)

    async def release(self, text: _Text, piece: str, *, final: bool = False) -> str:
        """What the guard releases of ``text`` once ``piece`` is added (all of it, masked,
        if ``final``); ``feed`` does this for a chat or completion stream's texts."""
        text.pending += piece
        return await self._release(text, final=final)

    async def feed(self, chunk: bytes) -> bytes:
        relayed = self.relay_plain(chunk)
        return relayed if relayed is not None else await self.feed_parsed(chunk)

    def relay_plain(self, chunk: bytes) -> bytes | None:
        """``chunk`` as ``feed_parsed`` would relay it, if it is a plain text event of a
        known shape that needs no analysis; None (nothing changed): parse it."""
        found = self.release_plain(chunk)
        if found is None:
            return None
        shape, piece, released = found
        return chunk if released == piece else shape.with_text(released)

    def release_plain(self, chunk: bytes) -> tuple[EventShape, str, str] | None:
        """(its shape, its text, the text released) of a plain text event of a known shape
        that needs no analysis, the guard's state moved on as ``feed_parsed`` would move
        it; None, with nothing changed, for any other chunk."""
        found = self._shapes.match(chunk)
        if found is None:
            return None
        shape, piece = found
        state = self._choices.get(shape.index)
        if state is None:
            state = self._choices[shape.index] = _Text.of(self._formats.content)
        text = state.pending + piece
        if not text:
            return shape, piece, piece
        if self._eager and _ANY_SUSPICIOUS.search(text) is None:
            # ``_plan`` of plain words, inlined (the usual token): the last word is held
            # (a long one, TRAILING characters or more, takes the parsing path).
            plain = max(text.rfind(" "), text.rfind("\n")) + 1
            if len(text) - plain >= TRAILING:
                return None
            if plain and not (plain >= 5 and text[plain - 5 : plain - 1].isalpha()):
                # Not after a long word: "M AB " may begin a plate, held (``letters_back``).
                plain = letters_back(text, plain)
        else:
            plain, analyse = self._plan(text, final=False, floor=state.floor)
            if analyse:
                return None
        released = text[:plain]
        state.pending = text[plain:]
        state.floor = max(state.floor - plain, 0)
        if released:
            state.context = (state.context + released)[-CONTEXT:]
            if state.cursor is not None:
                state.cursor.feed(released)
        return shape, piece, released

    async def feed_parsed(self, chunk: bytes) -> bytes:
        """``chunk`` parsed, each event's texts through the guard (the reference path)."""
        if _DATA not in chunk:
            return chunk
        out: list[bytes] = []
        for event in chunk.split(b"\n\n"):
            if event.startswith(_DATA) and not event.startswith(b'data: {"error"'):
                document = event_json(event)
                if not out and len(event) + 2 == len(chunk):
                    self._shapes.learn(chunk, document)
                await self._choices_of(document)
                event = b"data: " + orjson.dumps(document)
            out.append(event)
        return b"\n\n".join(out)

    async def _choices_of(self, document: dict[str, Any]) -> None:
        for choice in document.get("choices") or []:
            index = int(choice.get("index") or 0)
            final = choice.get("finish_reason") is not None
            delta = choice.get("delta")
            container, field = (delta, "content") if isinstance(delta, dict) else (choice, "text")
            piece = container.get(field)
            state = self._choices.get(index)
            if state is None:
                state = self._choices[index] = _Text.of(self._formats.content)
            if isinstance(piece, str):
                state.pending += piece
            released = await self._release(state, final=final)
            if isinstance(piece, str) or released:
                container[field] = released
            if (isinstance(delta, dict) and "tool_calls" in delta) or (final and self._calls):
                await self._tool_calls(index, choice, final=final)

    async def _tool_calls(self, index: int, choice: dict[str, Any], *, final: bool) -> None:
        """Each tool call's ``arguments`` through the guard, as its own text; the end of
        the choice releases what its calls still hold."""
        delta = choice.get("delta")
        calls = delta.get("tool_calls") if isinstance(delta, dict) else None
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                continue
            number = call.get("index")
            key = (index, number if type(number) is int else 0)
            state = self._calls.get(key)
            if state is None:
                state = self._calls[key] = _Text.of(self._formats.tool(function.get("name")))
            piece = function.get("arguments")
            if isinstance(piece, str):
                state.pending += piece
                function["arguments"] = await self._release(state, final=False)
        if final:
            for key in [k for k in self._calls if k[0] == index]:
                tail = await self._release(self._calls.pop(key), final=True)
                if tail:
                    _add_arguments(choice, key[1], tail)

    async def _release(self, state: _Text, *, final: bool) -> str:
        text = state.pending
        if not text:
            return ""
        plain, analyse = self._plan(text, final=final, floor=state.floor)
        held = text[plain:]
        released = text[:plain]
        if released and state.cursor is not None:
            state.cursor.feed(released)
        if analyse:
            cut, masked = await self._analyse(state, state.context + released, held, final=final)
            released += masked
            held = held[cut:]
        state.floor = max(state.floor - (len(text) - len(held)), 0)
        state.pending = held
        # The analyzer's left context is the text as the model wrote it, as in a whole
        # answer: a mask's name ("<IBAN>") would read as a label of the next number.
        state.context = (state.context + text[: len(text) - len(held)])[-CONTEXT:]
        return released

    def _plan(self, text: str, *, final: bool, floor: int = 0) -> tuple[int, bool]:
        """(characters of the pending ``text`` released without analysis, whether the rest
        must be analysed now). Pure: the fast path asks it before changing anything."""
        plain = self._plain_prefix(text, final=final)
        held = len(text) - plain
        if not held:
            return plain, False
        if self._eager:  # analysed once some of it can go (``hold_back``)
            rest = text[plain:]
            if final or _ANY_SUSPICIOUS.search(rest) is None:
                return plain, final
            ready = settled(rest)
            if ready and inert(rest, ready):  # short plain numbers: nothing to find
                return plain + ready, False
            return plain, ready > 0 and plain + ready > floor
        return plain, final or held >= WINDOW

    def _plain_prefix(self, text: str, *, final: bool) -> int:
        """How much can go without analysis: up to the first suspicious token (eager mode)."""
        if not self._eager:
            return 0
        # The cheap question first: most texts have no digit, "@" or PEM marker at all.
        found = _SUSPICIOUS.search(text) if _ANY_SUSPICIOUS.search(text) else None
        if found is not None:
            return letters_back(text, found.start())
        if final:
            return len(text)
        # An unfinished last word may still grow a digit: hold it, and the letters before it
        # that a number may still join ("Kennzeichen M AB ").
        return letters_back(text, max(text.rfind(" "), text.rfind("\n")) + 1)

    async def _analyse(
        self, state: _Text, context: str, held: str, *, final: bool
    ) -> tuple[int, str]:
        """(characters of ``held`` released, their masked text; a JSON text kept JSON)."""
        policy = self._applied.policy
        tenant = self._applied.tenant
        (spans,) = await self._analysis.analyze([context + held], policy, tenant=tenant)
        offset = len(context)
        # A span that begins in the context (released before, unmasked) is masked for the
        # part not yet released.
        mine = [
            Span(max(s.start - offset, 0), s.end - offset, s.entity, s.score)
            for s in spans
            if s.end > offset
        ]
        if final:
            cut = len(held)
        elif self._eager:
            ready = settled(held)
            cut = _before_spans(ready, mine)
            if cut < ready:  # a span runs past what could go: wait until settled passes it
                ends = [s.end for s in mine if s.start < ready < s.end]
                state.floor = len(context) - len(state.context) + max(ends, default=ready)
        else:
            cut = _cut(held, mine, HOLD)
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
        if state.cursor is None or state.json is None:
            return cut, rewrite(held[:cut], masks)
        return cut, state.cursor.rewrite(held[:cut], masks, state.json.stand_in(policy.id))


def _cut(held: str, spans: list[Span], hold: int) -> int:
    """A whitespace at least ``hold`` characters before the end that no span crosses."""
    end = len(held) - hold + 1
    cut = max(held.rfind(" ", 0, end), held.rfind("\n", 0, end))
    if cut <= 0:
        return 0
    return _before_spans(cut, spans)


def _before_spans(cut: int, spans: list[Span]) -> int:
    """``cut`` moved back to the start of any span it would split."""
    for span in sorted(spans, key=lambda s: -s.start):
        if span.start < cut < span.end:
            cut = span.start
    return max(cut, 0)


def _add_arguments(choice: dict[str, Any], number: int, tail: str) -> None:
    """``tail`` appended to tool call ``number``'s arguments in ``choice``'s delta."""
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        delta = choice["delta"] = {}
    calls = delta.get("tool_calls")
    if not isinstance(calls, list):
        calls = delta["tool_calls"] = []
    for call in calls:
        if isinstance(call, dict) and call.get("index", 0) == number:
            function = call.get("function")
            if isinstance(function, dict):
                function["arguments"] = (function.get("arguments") or "") + tail
                return
    calls.append({"index": number, "function": {"arguments": tail}})


class GuardedStream:
    """A relay source whose events pass the answer guard, then placeholder restoration."""

    def __init__(
        self,
        inner: RelaySource,
        guard: AnswerGuard,
        mapping: dict[str, str],
        *,
        json_content: bool = False,
    ) -> None:
        self.finish_on_disconnect = inner.finish_on_disconnect
        self._inner = inner
        self._guard = guard
        self._restore = (
            StreamRestoring(mapping, json_content=json_content, align=False) if mapping else None
        )
        self._aligner = LogprobAligner()
        self._logprobs = False  # the stream has shown logprobs: its events are aligned

    def _held(self, index: int, field: str) -> int:
        restore = self._restore
        held = self._guard.held(index)
        return held + (restore.held(index, field) if restore is not None else 0)

    async def events(self) -> AsyncIterator[bytes]:
        guard, restore = self._guard, self._restore
        async for chunk in self._inner.events():
            if self._logprobs or has_logprobs(chunk):  # logprobs move with their text
                self._logprobs = True
                aligned: list[bytes] = []
                try:
                    for event in events_of(chunk):
                        out = await guard.feed_parsed(event)
                        out = restore(out) if restore is not None else out
                        aligned.append(self._aligner.align(event, out, self._held))
                except (PolicyBlocked, UpstreamError) as exc:
                    yield b"".join(aligned) + render_sse(exc)
                    return
                yield b"".join(aligned)
                continue
            # The usual event: plain calls on its text, decoded once, written at most once;
            # as ``restore(guard.feed(chunk))`` would relay it (see ``StreamRestoring``).
            plain = guard.release_plain(chunk)
            if plain is not None:
                shape, piece, released = plain
                if restore is not None:
                    released = restore.text(shape.index, shape.field, released)
                yield chunk if released == piece else shape.with_text(released)
                continue
            try:
                out = await guard.feed_parsed(chunk)
            except (PolicyBlocked, UpstreamError) as exc:  # withheld, or broken JSON
                yield render_sse(exc)
                return
            yield restore(out) if restore is not None else out

    async def aclose(self, *, client_gone: bool = False) -> None:
        await self._inner.aclose(client_gone=client_gone)
