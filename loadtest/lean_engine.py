"""A near-instant OpenAI-shaped engine for the lean-path benchmarks (issue 13).

    python -m loadtest.lean_engine --port 9000 [--model lean] [--interval-ms 1.0]

Serves what the gateway needs from a vLLM engine, as cheaply as Python can: one asyncio
protocol per connection on uvloop, httptools for parsing, answers rendered from a few byte
templates. ``/v1/chat/completions`` answers plain or streamed with ``max_tokens`` token events
(vLLM's chunk shapes, a usage chunk when asked, ``[DONE]``); ``/v1/models`` gives the model
cards with ``max_model_len``; ``/health``; ``/metrics`` has vLLM's three load gauges.

Two models, so one engine serves both kinds of stream a benchmark needs:

- ``MODEL`` (``lean``): every answer is written at once (a stream's events in one write). The
  engine costs a few microseconds a request: what is measured is whatever sits in front.
- ``MODEL-paced`` (``lean-paced``): a stream's events are written ``--interval-ms`` apart, each
  in its own write, as a real engine's decode steps are. Needed wherever events must reach the
  gateway one by one: a relay handed 256 events in one read passes them as one chunk, and its
  CPU per event would then measure nothing. Pacing runs on a wheel of 1 ms ticks (one timer
  per tick that has work, not one per event), so one process holds thousands of streams.

The first event (the role) and the first token go out with the headers; token ``k`` follows
``k`` intervals later. Token texts are plain words without digits (the GDPR answer guard
releases those undelayed). Not a vLLM simulator: no queue, no batching, no faults; see
``serving.simulator`` for those.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import resource
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httptools
import orjson
import uvloop

MODEL = "lean"
PACED_SUFFIX = "-paced"
# Tokens' texts (JSON), in turn: words without digits (the GDPR answer guard releases those
# undelayed), varied (LiteLLM ends a stream that repeats one chunk 100 times).
WORDS = (b'" lorem"', b'" ipsum"', b'" dolor"', b'" sit"', b'" amet"', b'" sed"', b'" do"',
         b'" elit"')  # fmt: skip
_CARD_CREATED = 1_700_000_000
_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"transfer-encoding: chunked\r\n"
)
_LAST_CHUNK = b"0\r\n\r\n"
_DONE = b"data: [DONE]\n\n"
_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed"}


def chunk(event: bytes) -> bytes:
    """One HTTP/1.1 chunk holding ``event``."""
    return b"%x\r\n%s\r\n" % (len(event), event)


def response(status: int, body: bytes, content_type: bytes, keep_alive: bool) -> bytes:
    head = b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n" % (
        status,
        _REASONS.get(status, b"Error"),
        content_type,
        len(body),
    )
    return head + (b"\r\n" if keep_alive else b"connection: close\r\n\r\n") + body


def error_body(status: int, message: str) -> bytes:
    """vLLM's error JSON."""
    kind = "NotFoundError" if status == 404 else "BadRequestError"
    return orjson.dumps(
        {"error": {"message": message, "type": kind, "param": None, "code": status}}
    )


@dataclass(frozen=True, slots=True)
class Completion:
    """What a chat request asks for, as far as this engine cares."""

    model: str
    tokens: int
    stream: bool
    usage: bool
    prompt_tokens: int


def parse_chat(body: bytes, models: frozenset[str]) -> Completion:
    """The request's model, token count and stream options; ``ValueError`` if unusable."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    model = data.get("model")
    if model not in models:
        raise LookupError(f"The model `{model}` does not exist.")
    tokens = data.get("max_tokens", data.get("max_completion_tokens"))
    tokens = 16 if tokens is None else tokens
    if not isinstance(tokens, int) or tokens < 1:
        raise ValueError("max_tokens must be a positive integer")
    options = data.get("stream_options") or {}
    stream = bool(data.get("stream"))
    usage = stream and isinstance(options, dict) and bool(options.get("include_usage"))
    return Completion(str(model), tokens, stream, usage, max(1, len(body) // 4))


class StreamEncoder:
    """The SSE events of one chat stream, each already framed as an HTTP chunk."""

    def __init__(self, request_id: bytes, model: str, created: int) -> None:
        head = b'data: {"id":"chatcmpl-%s","object":"chat.completion.chunk","created":%d,' % (
            request_id,
            created,
        )
        self._head = head + b'"model":' + orjson.dumps(model) + b',"choices":['
        self.first = chunk(
            self._head + b'{"index":0,"delta":{"role":"assistant","content":""},'
            b'"logprobs":null,"finish_reason":null}]}\n\n'
        )
        self.tokens = [
            chunk(
                self._head + b'{"index":0,"delta":{"content":' + word + b'},"logprobs":null,'
                b'"finish_reason":null,"token_ids":null}]}\n\n'
            )
            for word in WORDS
        ]

    def token(self, index: int) -> bytes:
        """Token ``index`` (from 0) of the answer."""
        return self.tokens[index % len(WORDS)]

    def last(self, prompt_tokens: int, tokens: int, usage: bool) -> bytes:
        """The last token (with its finish reason), the usage chunk if asked, ``[DONE]``."""
        word = WORDS[(tokens - 1) % len(WORDS)]
        events = [
            self._head + b'{"index":0,"delta":{"content":' + word + b'},"logprobs":null,'
            b'"finish_reason":"length","stop_reason":null,"token_ids":null}]}\n\n'
        ]
        if usage:
            counts = b'{"prompt_tokens":%d,"total_tokens":%d,"completion_tokens":%d}' % (
                prompt_tokens,
                prompt_tokens + tokens,
                tokens,
            )
            events.append(self._head + b'],"usage":' + counts + b"}\n\n")
        events.append(_DONE)
        return b"".join(chunk(e) for e in events) + _LAST_CHUNK


def completion_body(request_id: bytes, request: Completion, created: int) -> bytes:
    words = [WORDS[k % len(WORDS)][1:-1].decode() for k in range(request.tokens)]
    content = "".join(words).lstrip()
    prompt, out = request.prompt_tokens, request.tokens
    return orjson.dumps(
        {
            "id": "chatcmpl-" + request_id.decode(),
            "object": "chat.completion",
            "created": created,
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "logprobs": None,
                    "finish_reason": "length",
                    "stop_reason": None,
                }
            ],
            "usage": {"prompt_tokens": prompt, "total_tokens": prompt + out,
                      "completion_tokens": out},
        }
    )  # fmt: skip


@dataclass(eq=False, slots=True)
class _Stream:
    """A paced stream on the wheel: its connection, what it sent, what it asked for."""

    connection: Connection
    encoder: StreamEncoder
    request: Completion
    sent: int = 1  # token events sent (the first goes out with the headers)


@dataclass(eq=False, slots=True)
class _Bucket:
    """The streams due at one tick of the wheel; they stay together from tick to tick."""

    due: float  # loop time
    streams: list[_Stream]


@dataclass
class Engine:
    """The engine's state: its models, the pacing wheel, and its load for /metrics."""

    model: str
    interval_s: float
    max_model_len: int
    running: int = 0
    served: int = 0
    _wheel: dict[int, _Bucket] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def models(self) -> frozenset[str]:
        return frozenset((self.model, self.model + PACED_SUFFIX))

    def new_id(self) -> bytes:
        return b"%016x" % next(self._ids)

    def schedule(self, streams: list[_Stream], due: float) -> None:
        """``streams`` are next due at ``due``: into the bucket of the tick (1 ms) after it.
        A bucket moves whole to its next tick, so pacing costs a loop step per event, not a
        timer or a dict look-up."""
        tick = int(due * 1000.0) + 1  # never early
        bucket = self._wheel.get(tick)
        if bucket is None:
            self._wheel[tick] = _Bucket(due, streams)
            asyncio.get_running_loop().call_at(tick / 1000.0, self._fire, tick)
        else:
            bucket.streams.extend(streams)

    def _fire(self, tick: int) -> None:
        bucket = self._wheel.pop(tick)
        going: list[_Stream] = []
        for stream in bucket.streams:
            connection = stream.connection
            if connection.closed:
                self.running -= 1
                continue
            request = stream.request
            if stream.sent + 1 < request.tokens:
                connection.write(stream.encoder.token(stream.sent))
                stream.sent += 1
                going.append(stream)
            else:
                connection.write(stream.encoder.last(request.prompt_tokens, request.tokens,
                                                     request.usage))  # fmt: skip
                self.running -= 1
                connection.stream_done()
        if going:
            self.schedule(going, bucket.due + self.interval_s)

    def metrics(self) -> bytes:
        labels = b'{model_name="%s",engine="0"}' % self.model.encode()
        return b"".join(
            (
                b"# TYPE vllm:num_requests_running gauge\n",
                b"vllm:num_requests_running%s %d\n" % (labels, self.running),
                b"# TYPE vllm:num_requests_waiting gauge\n",
                b"vllm:num_requests_waiting%s 0\n" % labels,
                b"# TYPE vllm:kv_cache_usage_perc gauge\n",
                b"vllm:kv_cache_usage_perc%s %.4f\n" % (labels, min(1.0, self.running / 1e5)),
                b"# TYPE lean_engine_requests_total counter\n",
                b"lean_engine_requests_total %d\n" % self.served,
            )
        )

    def models_body(self) -> bytes:
        cards = [
            {"id": name, "object": "model", "created": _CARD_CREATED, "owned_by": "vllm",
             "root": name, "parent": None, "max_model_len": self.max_model_len}
            for name in sorted(self.models)
        ]  # fmt: skip
        return orjson.dumps({"object": "list", "data": cards})


class Connection(asyncio.Protocol):
    """One client connection: requests parsed by httptools, answered in order."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.closed = False
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._body: list[bytes] = []
        self._queued: deque[tuple[bytes, bytes, bytes, bool]] = deque()
        self._busy = False  # a paced stream is being sent; later requests wait their turn

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.write(response(400, error_body(400, "bad request"), b"application/json", False))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url, self._body = b"", []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        method = self._parser.get_method()
        keep_alive = self._parser.should_keep_alive()
        self._queued.append((method, self._url, b"".join(self._body), keep_alive))
        if not self._busy:
            self._next()

    # answering
    def write(self, data: bytes) -> None:
        if self._transport is not None and not self.closed:
            self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self.closed = True

    def stream_done(self) -> None:
        self._busy = False
        self._next()

    def _next(self) -> None:
        while self._queued and not self._busy and not self.closed:
            method, url, body, keep_alive = self._queued.popleft()
            self._answer(method, url.partition(b"?")[0], body, keep_alive)
            if not keep_alive:
                self.close()

    def _answer(self, method: bytes, path: bytes, body: bytes, keep_alive: bool) -> None:
        engine = self.engine
        route = _ROUTES.get(path)
        if route is None:
            self.write(response(404, b'{"detail":"Not Found"}', b"application/json", keep_alive))
        elif route[0] != method:
            self.write(response(405, b'{"detail":"Method Not Allowed"}', b"application/json",
                                keep_alive))  # fmt: skip
        else:
            engine.served += 1
            route[1](self, body, keep_alive)

    def _health(self, body: bytes, keep_alive: bool) -> None:
        self.write(response(200, b"", b"text/plain", keep_alive))

    def _metrics(self, body: bytes, keep_alive: bool) -> None:
        self.write(response(200, self.engine.metrics(), b"text/plain; version=0.0.4",
                            keep_alive))  # fmt: skip

    def _models(self, body: bytes, keep_alive: bool) -> None:
        self.write(response(200, self.engine.models_body(), b"application/json", keep_alive))

    def _chat(self, body: bytes, keep_alive: bool) -> None:
        engine = self.engine
        try:
            request = parse_chat(body, engine.models)
        except LookupError as exc:
            self.write(response(404, error_body(404, str(exc)), b"application/json", keep_alive))
            return
        except ValueError as exc:
            self.write(response(400, error_body(400, str(exc)), b"application/json", keep_alive))
            return
        created = int(time.time())
        request_id = engine.new_id()
        if not request.stream:
            answer = completion_body(request_id, request, created)
            self.write(response(200, answer, b"application/json", keep_alive))
            return
        encoder = StreamEncoder(request_id, request.model, created)
        head = _STREAM_HEAD + (b"\r\n" if keep_alive else b"connection: close\r\n\r\n")
        if not request.model.endswith(PACED_SUFFIX) or request.tokens == 1:
            tail = encoder.last(request.prompt_tokens, request.tokens, request.usage)
            tokens = b"".join(encoder.token(k) for k in range(request.tokens - 1))
            self.write(head + encoder.first + tokens + tail)
            return
        self.write(head + encoder.first + encoder.token(0))
        self._busy = True
        engine.running += 1
        due = asyncio.get_running_loop().time() + engine.interval_s
        engine.schedule([_Stream(self, encoder, request)], due)


_Handler = Callable[[Connection, bytes, bool], None]
_ROUTES: dict[bytes, tuple[bytes, _Handler]] = {
    b"/health": (b"GET", Connection._health),
    b"/metrics": (b"GET", Connection._metrics),
    b"/v1/models": (b"GET", Connection._models),
    b"/v1/chat/completions": (b"POST", Connection._chat),
}


def raise_open_files() -> None:
    """Every stream is a socket: take the hard limit of open files."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(engine: Engine, host: str, port: int, ready: Callable[[], Any] | None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Connection(engine), host, port, backlog=8192, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready()
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.lean_engine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default=MODEL, help="also serves MODEL-paced")
    parser.add_argument("--interval-ms", type=float, default=1.0, help="paced model's pace")
    parser.add_argument("--max-model-len", type=int, default=32768)
    args = parser.parse_args(argv)
    raise_open_files()
    engine = Engine(args.model, args.interval_ms / 1000.0, args.max_model_len)

    def ready() -> None:
        print(f"lean engine ready on http://{args.host}:{args.port}", flush=True)

    uvloop.run(serve(engine, args.host, args.port, ready))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
