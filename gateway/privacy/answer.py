"""An answer through its policy: mask what the model produced, restore the placeholders.

The answer is analysed as the model wrote it, with the placeholders still in it, so the
values restored from the prompt (the client's own data) are never mistaken for personal data
the model produced. Whole answers are masked or withheld by the response rules; streamed
answers are restored event by event (``StreamRestoring``), holding back only a tail that
could still become a placeholder.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import PolicyBlocked, PolicyUnavailable, UpstreamInvalidResponse
from gateway.metrics import POLICY_ACTIONS
from gateway.privacy import texts as slots_of
from gateway.privacy.analysis import AnalysisService
from gateway.privacy.applied import Applied
from policies.decide import counts, decide, mask_token, rewrite
from policies.model import Direction
from policies.pseudonym.chunks import ChunkRestorer, restore_body

_DATA = b"data: {"


async def filter_body(analysis: AnalysisService, applied: Applied, body: bytes) -> bytes:
    """The non-streamed answer under the response rules, placeholders restored."""
    # The forwarder relays only JSON objects; anything else here would pass unread by the
    # response rules: refused (fail closed), never returned as it is.
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise UpstreamInvalidResponse("The engine's answer is not a JSON object; it was withheld.")
    slots = slots_of.answer_slots(document)
    texts = slots_of.read(slots)
    policy = applied.policy
    if applied.mode != "degraded" and any(texts):
        options = policy.analyzer
        try:
            found = await analysis.analyze(texts, policy, tenant=applied.tenant)
        except PolicyUnavailable:
            if options.on_error != "fail_open":
                raise
            found = [[] for _ in texts]
        decisions = [decide(spans, policy, Direction.RESPONSE) for spans in found]
        applied.answer = counts(decisions)
        for (entity, action), n in applied.answer.items():
            POLICY_ACTIONS.labels("response", entity, action, applied.mode).inc(n)
        blocked = sorted(frozenset().union(*(d.blocked for d in decisions)))
        if blocked and not policy.shadow:
            raise PolicyBlocked(
                f"The answer contained data that your policy ({policy.id}) does not allow to be "
                f"returned: {', '.join(blocked)}. It was withheld.",
                code="pii_blocked_in_answer",
            )
        masks = [[(f.span, mask_token(f.span.entity)) for f in d.to_rewrite()] for d in decisions]
        if any(masks):
            slots_of.write(slots, [rewrite(t, m) for t, m in zip(texts, masks, strict=True)])
    if applied.mapping:
        restore_body(document, applied.mapping)
    return orjson.dumps(document)


class StreamRestoring:
    """Rewrites each relayed SSE chunk: placeholders restored as soon as they are complete."""

    __slots__ = ("_restorer",)

    def __init__(self, mapping: dict[str, str]) -> None:
        self._restorer = ChunkRestorer(mapping)

    def __call__(self, chunk: bytes) -> bytes:
        # Most events hold no "<" while nothing is held back: relayed as they are, unparsed.
        if _DATA not in chunk or (b"<" not in chunk and not self._restorer.holding):
            return chunk
        out: list[bytes] = []
        for event in chunk.split(b"\n\n"):
            if event.startswith(_DATA) and not event.startswith(b'data: {"error"'):
                document: Any = event_json(event)
                event = b"data: " + orjson.dumps(self._restorer.on_chunk(document))
            out.append(event)
        return b"\n\n".join(out)


def event_json(event: bytes) -> Any:
    """The JSON of a ``data: {...}`` event. The response rules parse each event anyway: that
    is where an engine's broken JSON is caught (the relay itself only checks event starts),
    and it ends the stream with an in-band error rather than crashing the relay."""
    try:
        return orjson.loads(event[6:])
    except orjson.JSONDecodeError as exc:
        raise UpstreamInvalidResponse(
            "The engine sent a stream event that is not valid JSON; the stream was ended."
        ) from exc
