"""A near-instant engine: a whole answer at once, or an SSE stream whose events are
released on a shared clock tick, as vLLM releases one token for every running request per
scheduler step (so the relay reads each event on its own, in bursts across streams).

    python -m loadtest.hotpath.engine --port P [--tick-ms 1.0]

Raw asyncio on uvloop with httptools: the engine must cost the shared machine as little as
possible. ``max_tokens`` content events follow a first role event; the usage event (when
asked for) and ``[DONE]`` end the stream, written as vLLM's HTTP server writes them (chunked).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

import httptools
import orjson
import uvloop

_CHUNK_HEAD = b'data: {"id":"chatcmpl-hotpath","object":"chat.completion.chunk","created":1,'
_MODEL = b'"model":"llama-3.1-8b",'
ROLE = (
    _CHUNK_HEAD
    + _MODEL
    + (
        b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
        b'"logprobs":null,"finish_reason":null}]}\n\n'
    )
)
TOKEN = (
    _CHUNK_HEAD
    + _MODEL
    + (
        b'"choices":[{"index":0,"delta":{"content":" Antrag"},"logprobs":null,'
        b'"finish_reason":null}]}\n\n'
    )
)
DONE = b"data: [DONE]\n\n"
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


def usage_event(tokens: int) -> bytes:
    usage = {"prompt_tokens": 17, "completion_tokens": tokens, "total_tokens": 17 + tokens}
    return _CHUNK_HEAD + _MODEL + b'"choices":[],"usage":' + orjson.dumps(usage) + b"}\n\n"


def completion(tokens: int) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-hotpath",
            "object": "chat.completion",
            "created": 1,
            "model": "llama-3.1-8b",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": " Antrag" * tokens},
                    "finish_reason": "length",
                }
            ],
            "usage": {
                "prompt_tokens": 17,
                "completion_tokens": tokens,
                "total_tokens": 17 + tokens,
            },
        }
    )


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def whole(status: int, body: bytes, content_type: bytes = b"application/json") -> bytes:
    head = b"HTTP/1.1 %d OK\r\ncontent-type: %b\r\ncontent-length: %d\r\n\r\n"
    return head % (status, content_type, len(body)) + body


class Stream:
    __slots__ = ("left", "tokens", "transport", "usage")

    def __init__(self, transport: asyncio.Transport, tokens: int, usage: bool) -> None:
        self.transport, self.left, self.tokens, self.usage = transport, tokens, tokens, usage

    def step(self) -> bool:
        """Write the next event; False once the stream has ended."""
        if self.transport.is_closing():
            return False
        if self.left > 0:
            self.left -= 1
            self.transport.write(chunk(TOKEN))
            return True
        if self.usage:
            self.transport.write(chunk(usage_event(self.tokens)))
        self.transport.write(chunk(DONE) + b"0\r\n\r\n")
        return False


class Clock:
    """One timer for all streams: each tick, every running stream gets one event."""

    def __init__(self, tick: float) -> None:
        self.tick = tick
        self.streams: list[Stream] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, stream: Stream) -> None:
        self.streams.append(stream)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.tick, self._step)

    def _step(self) -> None:
        self.streams = [stream for stream in self.streams if stream.step()]
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.tick, self._step) if self.streams else None


class EngineProtocol(asyncio.Protocol):
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.body = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        transport = self.transport
        assert transport is not None
        if self.url != b"/v1/chat/completions":
            transport.write(whole(200, b'{"status":"ok"}'))
            return
        request = orjson.loads(b"".join(self.body))
        tokens = int(request.get("max_tokens") or 16)
        if not request.get("stream"):
            transport.write(whole(200, completion(tokens)))
            return
        usage = bool((request.get("stream_options") or {}).get("include_usage"))
        transport.write(_SSE_HEAD + chunk(ROLE))
        self.clock.add(Stream(transport, tokens, usage))


async def serve(port: int, tick: float) -> None:
    clock = Clock(tick)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: EngineProtocol(clock), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.hotpath.engine")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tick-ms", type=float, default=1.0)
    args = parser.parse_args(argv)
    uvloop.run(serve(args.port, args.tick_ms / 1000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
