"""A streamed Messages answer, relayed event by event: checked, metered, restored, guarded.

vLLM writes Anthropic's events (``vllm/entrypoints/anthropic/serving.py``)::

    event: message_start         {"message": {..., "usage": {"input_tokens": 9, ...}}}
    event: content_block_start   {"index": 0, "content_block": {"type": "text", "text": ""}}
    event: content_block_delta   {"delta": {"type": "text_delta", "text": "Hal"}, "index": 0}
    event: content_block_stop    {"index": 0}
    event: message_delta         {"delta": {"stop_reason": ...}, "usage": {"output_tokens": ...}}
    event: message_stop

(``thinking_delta`` and ``input_json_delta``, tool input as JSON text, in their blocks; ``ping``;
an ``error`` event). The stream ends with ``message_stop`` (no ``[DONE]``). Each event must
start ``event: `` or ``data: {``; a stream that ends without ``message_stop`` or ``error`` is
the engine breaking the protocol: an in-band ``error`` event ends it, as on OpenAI's routes.

Metering: the input tokens of ``message_start`` and the ``message_delta``'s usage (the engine's
final count). A stream cut short (``abort``: the engine stops when its connection closes) is
metered with the engine's input count and one token per content delta relayed.

Under a policy, every text delta of the answer (``text``, ``thinking``, tool ``partial_json``)
goes through the answer guard (``AnswerGuard.release``: held, analysed, masked as a
chat's text, tool input kept JSON under its ``input_schema``) and then the placeholder
restorer, per content block; the block's ``content_block_stop`` releases what they hold, in
one more delta event just before it. The usual event, a text delta of the block's learned
shape (``privacy/event_shape.py``), is read and rewritten as bytes, never parsed; without a
policy that acts on answers, it costs one prefix test.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import orjson

from gateway.core.usage import Usage
from gateway.errors import GatewayError, UpstreamInvalidResponse, render_sse
from gateway.metering.stream import StreamOutcome, close_then_meter
from gateway.privacy.event_shape import EventShape
from gateway.privacy.json_answers import JsonFormat
from gateway.privacy.stream_guard import AnswerGuard
from gateway.upstream.forwarder import UpstreamStream
from gateway.upstream.sse import first_separator, split_events
from policies.pseudonym.restore import RestoreTable, StreamRestorer

_DELTA = b"event: content_block_delta\n"
_STARTS = (b"event: ", b"data: {")
_FIELDS = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}
_PROBE = "\x00probe"
_CACHE = ("cache_read_input_tokens", "cache_creation_input_tokens")


def well_formed(chunk: bytes) -> bool:
    """Whether every event of a chunk of whole events starts as an Anthropic event does."""
    rest = chunk
    while rest.strip():
        if not rest.startswith(_STARTS):
            return False
        cut, width = first_separator(rest)
        if cut < 0:
            return True
        rest = rest[cut + width :]
    return True


def name_of(event: bytes) -> bytes:
    """The event's name (``event: <name>``), or ``b""``."""
    if not event.startswith(b"event: "):
        return b""
    end = event.find(b"\n")
    return event[7:end].rstrip(b"\r") if end > 0 else b""


def data_of(event: bytes) -> Any:
    """The JSON of the event's ``data:`` line (an engine's broken JSON ends the stream)."""
    start = event.find(b"data: ")
    try:
        return orjson.loads(event[start + 6 :]) if start >= 0 else None
    except orjson.JSONDecodeError as exc:
        raise UpstreamInvalidResponse(
            "The engine sent a stream event that is not valid JSON; the stream was ended."
        ) from exc


class MessagesStream:
    """A relay source (``upstream.relay.RelaySource``) for ``/v1/messages`` streams."""

    def __init__(
        self,
        upstream: UpstreamStream,
        *,
        finish_on_disconnect: bool,
        on_end: Callable[[StreamOutcome], Awaitable[None]],
        started: float,
        guard: AnswerGuard | None = None,
        mapping: Mapping[str, str] | None = None,
        tools: Mapping[str, JsonFormat] | None = None,
        capture: Callable[[bytes], None] | None = None,
    ) -> None:
        self.engine = upstream.engine
        self.finish_on_disconnect = finish_on_disconnect
        self._upstream = upstream
        self._on_end = on_end
        self._started = started
        self._guard = guard
        self._table = RestoreTable(mapping) if mapping else None
        self._tools = tools or {}
        self._capture = capture  # the content log's copy of the engine's deltas
        self._acts = guard is not None or self._table is not None
        self._blocks: dict[int, tuple[str, JsonFormat | None]] = {}  # index -> field, JSON
        self._restorers: dict[int, StreamRestorer] = {}
        self._held: dict[int, Any] = {}  # index -> the guard's text of the block
        self._shape: EventShape | None = None
        self._input: int | None = None
        self._usage: Usage | None = None
        self._content_events = 0
        self._first: float | None = None
        self._completed = self._failed = self._closed = False
        self._iterator: AsyncGenerator[bytes, None] | None = None

    def events(self) -> AsyncIterator[bytes]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    async def _events(self) -> AsyncGenerator[bytes, None]:
        error: GatewayError | None = None
        try:
            async for chunk in split_events(self._upstream.answer.chunks()):
                if self._first is None:
                    self._first = time.perf_counter()
                if chunk.startswith(_DELTA) and chunk.find(b"\n\n") == len(chunk) - 2:
                    out = await self._delta(chunk)  # the usual chunk: one content delta
                elif well_formed(chunk):
                    out = await self._chunk(chunk)
                else:
                    raise UpstreamInvalidResponse(
                        "The engine sent a stream event that is not an Anthropic event; the "
                        "stream was ended."
                    )
                if out:
                    yield out
            if not self._completed and not self._failed:
                raise UpstreamInvalidResponse("The engine ended the stream before its end event.")
        except GatewayError as exc:  # the engine's failure, broken events, or withheld
            error = exc
        finally:
            await self._upstream.aclose()
        if error is not None:
            self._failed = True
            yield render_sse(error, "anthropic")

    async def _chunk(self, chunk: bytes) -> bytes:
        """Events written together, one by one."""
        out: list[bytes] = []
        rest = chunk
        while rest:
            cut, width = first_separator(rest)
            end = len(rest) if cut < 0 else cut + width
            event = rest[:end]
            rest = rest[end:]
            out.append(
                await self._delta(event) if event.startswith(_DELTA) else await self._other(event)
            )
        return b"".join(out)

    async def _delta(self, event: bytes) -> bytes:
        self._content_events += 1
        if self._capture is not None:
            self._capture(event)
        if not self._acts:
            return event
        shape = self._shape
        if shape is not None:
            text = shape.text_of(event)
            if text is not None:
                out = await self._text(shape.index, text)
                return event if out == text else shape.with_text(out)
        document = data_of(event)
        delta = document.get("delta") if isinstance(document, dict) else None
        if not isinstance(delta, dict):
            return event
        field = _FIELDS.get(str(delta.get("type")))
        if field is None or not isinstance(delta.get(field), str):
            return event  # a signature_delta, or nothing the policy reads
        index = document.get("index")
        index = index if type(index) is int else 0
        piece = delta[field]
        if field == "text":
            self._learn(event, document, delta, index)
        out = await self._text(index, piece)
        if out == piece:
            return event
        delta[field] = out
        return _event(b"content_block_delta", document)

    async def _text(self, index: int, piece: str, *, final: bool = False) -> str:
        """Block ``index``'s text moved on by ``piece``: through the guard, then restored."""
        guard = self._guard
        if guard is not None:
            held = self._held.get(index)
            if held is None:
                kind = self._blocks.get(index)
                held = self._held[index] = guard.text(kind[1] if kind is not None else None)
            piece = await guard.release(held, piece, final=final)
            if final:
                del self._held[index]
        if self._table is not None:
            restorer = self._restorers.get(index)
            if restorer is None:
                kind = self._blocks.get(index)
                escape = kind is not None and kind[0] == "partial_json"
                restorer = self._restorers[index] = StreamRestorer(self._table, json_escape=escape)
            piece = restorer.feed(piece)
            if final:
                piece += restorer.flush()
                del self._restorers[index]
        return piece

    async def _other(self, event: bytes) -> bytes:
        name = name_of(event)
        if name == b"ping" or name == b"":
            return event
        if name == b"message_stop":
            self._completed = True
            return event
        if name == b"error":
            self._failed = True
            return event
        document = data_of(event)
        if not isinstance(document, dict):
            return event
        if name == b"message_start":
            message = document.get("message")
            usage = _usage(message.get("usage") if isinstance(message, dict) else None)
            self._input = usage.prompt_tokens if usage is not None else None
        elif name == b"message_delta":
            usage = _usage(document.get("usage"))
            if usage is not None:
                prompt = usage.prompt_tokens or self._input or 0
                self._usage = Usage(prompt, usage.completion_tokens)
        elif name == b"content_block_start" and self._acts:
            self._start(document)
        elif name == b"content_block_stop" and self._acts:
            return await self._stop(document, event)
        return event

    def _start(self, document: dict[str, Any]) -> None:
        index, block = document.get("index"), document.get("content_block")
        if type(index) is not int or not isinstance(block, dict):
            return
        kind = block.get("type")
        if kind == "tool_use":
            name = block.get("name")
            found = self._tools.get(name) if isinstance(name, str) else None
            self._blocks[index] = ("partial_json", found or JsonFormat(where="a tool's input"))
        elif kind == "thinking":
            self._blocks[index] = ("thinking", None)
        else:
            self._blocks[index] = ("text", None)

    async def _stop(self, document: dict[str, Any], event: bytes) -> bytes:
        """The block's end: what the guard and the restorer still hold, in a delta before it."""
        index = document.get("index")
        if type(index) is not int:
            return event
        field = self._blocks.pop(index, ("text", None))[0]
        tail = await self._text(index, "", final=True)
        if self._shape is not None and self._shape.index == index:
            self._shape = None
        if not tail:
            return event
        kind = {"text": "text_delta", "thinking": "thinking_delta"}.get(field, "input_json_delta")
        flush = {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": kind, field: tail},
        }
        return _event(b"content_block_delta", flush) + event

    def _learn(self, event: bytes, document: Any, delta: dict[str, Any], index: int) -> None:
        """The bytes around this block's text deltas, proven by a probe (``event_shape``)."""
        text = delta["text"]
        marker = b'"text":"'
        start = event.find(marker)
        if start < 0 or event.find(marker, start + 1) >= 0:
            return
        start += len(marker)
        end = start + len(orjson.dumps(text)) - 2
        if event[end : end + 1] != b'"' or not event.endswith(b"\n\n"):
            return
        prefix, suffix = event[:start], event[end:]
        data = prefix.find(b"data: ") + 6
        delta["text"] = _PROBE
        try:
            same = orjson.loads(prefix[data:] + orjson.dumps(_PROBE)[1:-1] + suffix) == document
        except orjson.JSONDecodeError:
            same = False
        delta["text"] = text
        shape = EventShape(index, "text", prefix, suffix)
        if same and shape.text_of(event) == text:
            self._shape = shape

    async def aclose(self, *, client_gone: bool = False) -> None:
        """Close the engine stream and meter, exactly once, however it ended."""
        if self._closed:
            return
        self._closed = True
        await close_then_meter(
            self._iterator, self._upstream, lambda: self._on_end(self._outcome(client_gone))
        )

    def _outcome(self, client_gone: bool) -> StreamOutcome:
        usage, estimated = self._usage, False
        if usage is None and self._input is not None:  # cut short: one token per delta
            usage, estimated = Usage(self._input, self._content_events), True
        return StreamOutcome(
            usage=usage,
            content_events=self._content_events,
            ttft_s=None if self._first is None else self._first - self._started,
            duration_s=time.perf_counter() - self._started,
            client_gone=client_gone,
            failed=self._failed or (not self._completed and not client_gone),
            estimated=estimated,
        )


def _usage(usage: Any) -> Usage | None:
    """Anthropic's usage: the input is ``input_tokens`` plus what the cache read or wrote
    (vLLM takes those out of ``input_tokens`` when it reports them)."""
    if not isinstance(usage, dict):
        return None
    parts = [usage.get(k) for k in ("input_tokens", *_CACHE)]
    output = usage.get("output_tokens", 0)
    if not isinstance(parts[0], int) or not isinstance(output, int):
        return None
    return Usage(sum(p for p in parts if isinstance(p, int)), output)


def usage_of_message(body: bytes) -> Usage | None:
    """The usage of a whole Messages answer."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return _usage(document.get("usage")) if isinstance(document, dict) else None


def _event(name: bytes, document: Any) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(document) + b"\n\n"
