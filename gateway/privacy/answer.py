"""An answer through its policy: mask what the model produced, restore the placeholders.

The answer is analysed as the model wrote it, with the placeholders still in it, so the
values restored from the prompt (the client's own data) are never mistaken for personal data
the model produced. Whole answers are masked or withheld by the response rules; streamed
answers are restored event by event (``StreamRestoring``), holding back only a tail that
could still become a placeholder. JSON texts of the answer (``json_answers``) stay JSON:
masked as ``policies.jsontext`` does it, restored JSON-escaped. Logprobs follow the text the
client gets (``logprobs``), an echoed prompt's included.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import PolicyBlocked, PolicyUnavailable, UpstreamInvalidResponse
from gateway.metrics import POLICY_ACTIONS
from gateway.privacy import texts as slots_of
from gateway.privacy.analysis import AnalysisService
from gateway.privacy.applied import Applied
from gateway.privacy.event_shape import EventShapes, one_event
from gateway.privacy.json_answers import PLAIN, AnswerFormats, JsonFormat
from gateway.privacy.logprobs import LogprobAligner, align_body, events_of, has_logprobs
from gateway.privacy.messages import inputs_as_objects, inputs_as_text, restore_message
from gateway.privacy.responses import restore_answer
from policies.decide import counts, decide, mask_token, rewrite
from policies.jsontext import JsonCursor
from policies.model import Direction
from policies.pseudonym.chunks import ChunkRestorer, restore_body
from policies.spans import Span

_DATA = b"data: {"
# Chunks a restorer parses only to learn the stream's text event shape (the role event,
# then the first token's: two suffice for vLLM); it stops at the first chunk of that shape.
LEARNING_PARSES = 4


async def filter_body(
    analysis: AnalysisService, applied: Applied, body: bytes, formats: AnswerFormats = PLAIN
) -> bytes:
    """The non-streamed answer under the response rules, placeholders restored; its JSON
    texts (``formats``) kept JSON."""
    # The forwarder relays only JSON objects; anything else here would pass unread by the
    # response rules: refused (fail closed), never returned as it is.
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise UpstreamInvalidResponse("The engine's answer is not a JSON object; it was withheld.")
    message = document.get("type") == "message"  # Anthropic's: tool inputs as JSON texts
    if message:
        inputs_as_text(document)
    slots = slots_of.answer_slots(document)
    texts = slots_of.read(slots)
    original = _choice_texts(document)  # as the engine wrote them: their logprobs' text
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
            kinds = [formats.of_slot(container, key) for container, key in slots]
            masked = [
                masked_text(t, m, kind, policy.id)
                for t, m, kind in zip(texts, masks, kinds, strict=True)
            ]
            slots_of.write(slots, masked)
    if applied.mapping and document.get("object") == "response":  # the Responses API
        restore_answer(document, applied.mapping, json_content=formats.content is not None)
    elif applied.mapping and message:
        restore_message(document, applied.mapping)
    elif applied.mapping:
        restore_body(document, applied.mapping, json_content=formats.content is not None)
    if message:
        inputs_as_objects(document)
    align_body(document, original)
    return orjson.dumps(document)


def _choice_texts(document: dict[str, Any]) -> dict[int, str]:
    """Each choice's text (a message's content, or a completion's text), by index."""
    texts: dict[int, str] = {}
    for choice in document.get("choices") or []:
        if not isinstance(choice, dict) or choice.get("logprobs") is None:
            continue
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else choice.get("text")
        if isinstance(text, str):
            texts[int(choice.get("index") or 0)] = text
    return texts


def masked_text(
    text: str, masks: list[tuple[Span, str]], kind: JsonFormat | None, policy: str
) -> str:
    """``text`` with ``masks`` applied: as JSON if ``kind`` says it is (may raise
    ``PolicyBlocked``: a masked value the request's schema has no place for)."""
    if kind is None or not masks:
        return rewrite(text, masks)
    return JsonCursor().rewrite(text, masks, kind.stand_in(policy))


class StreamRestoring:
    """Rewrites each relayed SSE chunk: placeholders restored as soon as they are complete.

    Most events are relayed as they are after two one-byte searches: no "<" (written as it
    is, or escaped: ``\\u003c``) while nothing is held back, so restoring could change
    nothing. An event that may matter is restored without a parse when it is a plain text
    event of a shape learned from the stream (``event_shape``): its text, decoded, goes
    through the same restorer. Anything else is parsed, as every event once was; the first
    few events are parsed anyway, to learn the shape from.
    """

    __slots__ = ("_aligner", "_learning", "_logprobs", "_restorer", "_shapes")

    def __init__(
        self, mapping: dict[str, str], *, json_content: bool = False, align: bool = True
    ) -> None:
        self._restorer = ChunkRestorer(mapping, json_content=json_content)
        self._shapes = EventShapes()
        self._learning = LEARNING_PARSES
        # Logprobs move with their text (``logprobs``); off where a caller aligns them.
        self._aligner = LogprobAligner() if align else None
        self._logprobs = False  # the stream has shown logprobs: its events are aligned

    def held(self, index: int, field: str) -> int:
        """Characters of choice ``index``'s ``field`` held back (a placeholder's start)."""
        return self._restorer.held(index, field)

    def __call__(self, chunk: bytes) -> bytes:
        if self._aligner is not None and (self._logprobs or has_logprobs(chunk)):
            self._logprobs = True  # from the first event with logprobs on: aligned
            aligner = self._aligner
            return b"".join(
                aligner.align(event, self._restore(event), self.held) for event in events_of(chunk)
            )
        return self._restore(chunk)

    def _restore(self, chunk: bytes) -> bytes:
        # Most events: no "<" (a one-byte search), no escape (another: "\\u003c" is "<"),
        # nothing held back. Restoring them would change nothing: relayed as they are.
        if (
            not self._restorer.holding
            and chunk.find(b"<") < 0
            and (chunk.find(b"\\") < 0 or chunk.find(b"\\u") < 0)
        ):
            if self._learning > 0:
                self._learn(chunk)
            return chunk
        found = self._shapes.match(chunk)
        if found is not None:
            shape, text = found
            restored = self.text(shape.index, shape.field, text)
            return chunk if restored == text else shape.with_text(restored)
        if _DATA not in chunk:
            return chunk
        out: list[bytes] = []
        for event in chunk.split(b"\n\n"):
            if event.startswith(_DATA) and not event.startswith(b'data: {"error"'):
                document: Any = event_json(event)
                if not out and len(event) + 2 == len(chunk):
                    self._shapes.learn(chunk, document)
                event = b"data: " + orjson.dumps(self._restorer.on_chunk(document))
            out.append(event)
        return b"\n\n".join(out)

    def text(self, index: int, field: str, text: str) -> str:
        """What restoring a plain text event with this text (choice ``index``'s ``field``)
        makes of the text: for a caller that has decoded the event already."""
        return self._restorer.on_text(index, field, text)

    def _learn(self, chunk: bytes) -> None:
        """Learn from a chunk that needs no restoring. It is relayed as it came and not
        restored (no "<", nothing held: restoring would change nothing), so a chunk that
        is not one valid event is left alone here, as it was before shapes."""
        if self._shapes.match(chunk) is not None:
            self._learning = 0  # learnt: the events to come are of this shape
            return
        self._learning -= 1
        if not one_event(chunk) or not chunk.startswith(_DATA):
            return
        try:
            document = orjson.loads(chunk[6:])
        except orjson.JSONDecodeError:
            return
        self._shapes.learn(chunk, document)


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
