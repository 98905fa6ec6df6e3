"""Time a streamed chat completion as it arrives: TTFT, inter-token latency, tokens/s, errors.

Pure (no HTTP, no Locust): fed raw byte chunks with their arrival times, so it is tested with
a fake stream and a fake clock, and the Locust user only has to pass chunks through.

Definitions (all per request; times from just before the request is sent):
- TTFT: until the first chunk carrying generated text (``delta.content``, ``reasoning_content``
  or tool calls). vLLM's first event often carries only the role, which is not a token.
- ITL: (arrival of the last text chunk - arrival of the first) / (output tokens - 1): the
  request's mean gap per token after the first, what vLLM's benchmark calls TPOT. Output tokens
  come from the final usage event (``stream_options.include_usage``), else from the number of
  text chunks. Undefined below two tokens.
- tokens/s: output tokens / whole request time (TTFT included: the rate a user sees).
- A request fails on an in-band ``data: {"error": ...}`` event (the gateway's and vLLM's
  form), on an undecodable event, or when the stream ends without ``data: [DONE]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from gateway.upstream.sse import first_separator


class SseDecoder:
    """Split a byte stream into events, whatever its chunking; yield each event's data field."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[str]:
        self._pending += chunk
        payloads: list[str] = []
        while True:
            cut, width = first_separator(self._pending)
            if cut < 0:
                return payloads
            data = _event_data(self._pending[:cut])
            self._pending = self._pending[cut + width :]
            if data is not None:
                payloads.append(data)

    def close(self) -> list[str]:
        """The data of a last event the server did not end with a blank line."""
        data, self._pending = _event_data(self._pending), b""
        return [] if data is None else [data]


def _event_data(raw: bytes) -> str | None:
    """The event's ``data:`` lines joined by newlines (SSE rules); None for comments only."""
    lines = [
        line[5:].removeprefix(" ")
        for line in raw.decode("utf-8", errors="replace").splitlines()
        if line.startswith("data:")
    ]
    return "\n".join(lines) if lines else None


@dataclass(frozen=True)
class StreamResult:
    ok: bool
    total_ms: float
    error: str | None = None
    ttft_ms: float | None = None
    itl_ms: float | None = None
    tokens_per_s: float | None = None
    output_tokens: int = 0
    prompt_tokens: int | None = None
    text: str = ""

    @classmethod
    def failed(cls, error: str, total_ms: float) -> StreamResult:
        return cls(ok=False, total_ms=total_ms, error=error)


class StreamMeter:
    """Accumulates one stream's events with their arrival times (seconds, any monotonic clock)."""

    def __init__(self, started: float) -> None:
        self.started = started
        self._decoder = SseDecoder()
        self._first: float | None = None
        self._last: float | None = None
        self._text_chunks = 0
        self._parts: list[str] = []
        self._usage: dict[str, Any] = {}
        self._error: str | None = None
        self._done = False

    def feed(self, chunk: bytes, now: float) -> None:
        for data in self._decoder.feed(chunk):
            self._on_event(data, now)

    def finish(self, now: float) -> StreamResult:
        for data in self._decoder.close():
            self._on_event(data, now)
        total_ms = (now - self.started) * 1000.0
        error = self._error or (None if self._done else "stream ended without [DONE]")
        if error is not None:
            return StreamResult.failed(error, total_ms)
        return self._result(total_ms)

    def _result(self, total_ms: float) -> StreamResult:
        completion = self._usage.get("completion_tokens")
        tokens = completion if isinstance(completion, int) else self._text_chunks
        prompt = self._usage.get("prompt_tokens")
        ttft = itl = None
        if self._first is not None and self._last is not None:
            ttft = (self._first - self.started) * 1000.0
            if tokens >= 2:
                itl = (self._last - self._first) * 1000.0 / (tokens - 1)
        return StreamResult(
            ok=True,
            total_ms=total_ms,
            ttft_ms=ttft,
            itl_ms=itl,
            tokens_per_s=tokens * 1000.0 / total_ms if tokens and total_ms > 0 else None,
            output_tokens=tokens,
            prompt_tokens=prompt if isinstance(prompt, int) else None,
            text="".join(self._parts),
        )

    def _on_event(self, data: str, now: float) -> None:
        if self._error is not None or self._done:
            return  # nothing after an error or [DONE] counts
        if data.strip() == "[DONE]":
            self._done = True
            return
        try:
            event = orjson.loads(data)
        except ValueError:
            self._error = f"undecodable event: {data[:80]!r}"
            return
        if not isinstance(event, dict):
            self._error = f"unexpected event: {data[:80]!r}"
            return
        self._error = in_band_error(event)
        if self._error is None:
            self._on_chunk(event, now)

    def _on_chunk(self, event: dict[str, Any], now: float) -> None:
        if isinstance(event.get("usage"), dict):
            self._usage = event["usage"]
        for choice in event.get("choices") or ():
            delta = choice.get("delta") or {}
            text = delta.get("content") or delta.get("reasoning_content") or ""
            if text or delta.get("tool_calls"):
                if self._first is None:
                    self._first = now
                self._last = now
                self._text_chunks += 1
                self._parts.append(text)


def in_band_error(event: dict[str, Any]) -> str | None:
    """The message of an error event: ``{"error": {...}}`` or vLLM's ``{"object": "error"}``."""
    error = event.get("error")
    if isinstance(error, dict):
        return f"{error.get('type') or error.get('code') or 'error'}: {error.get('message')}"
    if error:
        return str(error)
    if event.get("object") == "error":
        return f"{event.get('type') or 'error'}: {event.get('message')}"
    return None


def measure_stream(
    chunks: Iterable[bytes], started: float, clock: Callable[[], float]
) -> StreamResult:
    """Read ``chunks`` to the end, stamping each with ``clock()`` as it arrives."""
    meter = StreamMeter(started)
    for chunk in chunks:
        meter.feed(chunk, clock())
    return meter.finish(clock())


class Response(Protocol):
    """What ``read_response`` needs of a ``requests`` response opened with ``stream=True``."""

    status_code: int
    content: bytes
    raw: object

    def iter_content(self, chunk_size: int | None) -> Iterator[bytes]: ...

    def close(self) -> None: ...


def read_response(response: Response, started: float, clock: Callable[[], float]) -> StreamResult:
    """Measure a streamed answer, or say why it failed; always releases the connection.

    Status 0 is Locust's stand-in for a request that could not be sent (its ``error`` says
    why). ``requests``' errors while reading (timeouts, broken chunked encoding) are OSErrors.
    """

    def since() -> float:
        return (clock() - started) * 1000.0

    try:
        if response.status_code == 0:
            return StreamResult.failed(str(getattr(response, "error", "no response")), since())
        if response.status_code != 200:
            return StreamResult.failed(http_error(response.status_code, response.content), since())
        # chunk_size=None: each chunk as soon as it arrives, not once 512 bytes are in.
        return measure_stream(response.iter_content(chunk_size=None), started, clock)
    except OSError as exc:
        return StreamResult.failed(f"{type(exc).__name__}: {exc}", since())
    finally:
        if response.raw is not None:  # None when nothing was ever received
            response.close()


def http_error(status: int, body: bytes) -> str:
    """A short failure text for a non-200 answer, with OpenAI's error message if present."""
    try:
        event = orjson.loads(body)
    except ValueError:
        event = None
    message = in_band_error(event) if isinstance(event, dict) else None
    return f"HTTP {status}: {message or body[:120].decode('utf-8', errors='replace')}"
