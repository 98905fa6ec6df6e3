"""The load process: closed-loop HTTP/1.1 clients on kept-alive connections, one job per
line of standard input, one JSON result per line of standard output.

    python -m loadtest.hotpath.client   (driven by the runner)

A job: ``{"port", "body" (latin-1 text), "concurrency", "requests", "seconds"}``; the
result: per-request latency and time to the first SSE event (seconds), the events seen and
the failures. Raw asyncio with httptools' response parser, on uvloop, and requests as
ready-made bytes, so the client costs the shared machine less than the relay under test.
The headers are those the openai Python SDK sends, so the server parses a real head.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import Any, cast

import httptools
import orjson
import uvloop

from loadtest.hotpath.bodies import PATH

_SDK_HEADERS = (
    b"Accept: application/json\r\nAccept-Encoding: gzip, deflate\r\n"
    b"Authorization: Bearer sk-hotpath-0000000000000000000000000000\r\n"
    b"User-Agent: OpenAI/Python 1.99.0\r\nX-Stainless-Lang: python\r\n"
    b"X-Stainless-Package-Version: 1.99.0\r\nX-Stainless-OS: Linux\r\n"
    b"X-Stainless-Arch: x64\r\nX-Stainless-Runtime: CPython\r\n"
    b"X-Stainless-Runtime-Version: 3.11.7\r\nX-Stainless-Retry-Count: 0\r\n"
    b"X-Stainless-Read-Timeout: 600\r\nContent-Type: application/json\r\n"
)


def request_bytes(port: int, body: bytes, path: str = PATH) -> bytes:
    head = b"POST %b HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (path.encode(), port)
    return head + _SDK_HEADERS + b"Content-Length: %d\r\n\r\n" % len(body) + body


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    events: int = 0
    bodies: int = 0  # body chunks received: events / bodies = events per relay write
    failures: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] | None = None
        self.lost = asyncio.get_running_loop().create_future()
        self.sent = self.first = 0.0
        self.events = self.bodies = 0
        self.ended = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if self.done is not None and not self.done.done():
            self.done.set_exception(ConnectionError("closed mid-answer"))

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        count = body.count(b"data: ")
        if count and not self.first:
            self.first = time.perf_counter()
        self.events += count
        self.bodies += 1
        self.ended = self.ended or b"[DONE]" in body

    def on_message_complete(self) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(None)

    async def exchange(self, request: bytes) -> int:
        assert self.transport is not None
        self.done = asyncio.get_running_loop().create_future()
        self.first, self.events, self.bodies, self.ended = 0.0, 0, 0, False
        self.sent = time.perf_counter()
        self.transport.write(request)
        await self.done
        return int(self.parser.get_status_code())


async def run(job: dict[str, Any]) -> Result:
    loop = asyncio.get_running_loop()
    port = int(job["port"])
    request = request_bytes(port, job["body"].encode("latin-1"), job.get("path", PATH))
    remaining = int(job["requests"])
    stop_at = time.perf_counter() + float(job.get("seconds") or 1e9)
    result = Result()
    connections = [
        (await loop.create_connection(Connection, "127.0.0.1", port))[1]
        for _ in range(int(job["concurrency"]))
    ]

    async def worker(connection: Connection) -> None:
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < stop_at:
            remaining -= 1
            try:
                status = await connection.exchange(request)
            except ConnectionError:
                result.failures += 1
                return
            ended = time.perf_counter()
            result.latencies.append(ended - connection.sent)
            result.ttfts.append((connection.first or ended) - connection.sent)
            result.events += connection.events
            result.bodies += connection.bodies
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status != int(job.get("status", 200)):
                result.failures += 1

    await asyncio.gather(*(worker(connection) for connection in connections))
    for connection in connections:
        assert connection.transport is not None
        connection.transport.close()
    return result


async def serve_jobs() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        result = await run(orjson.loads(line))
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS) + b"\n")
        sys.stdout.flush()


def main() -> int:
    uvloop.run(serve_jobs())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
