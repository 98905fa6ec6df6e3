"""The client process of ``loadtest.mass_streams``: opens its share of N streams on a schedule
and times every read that brings events.

    python -m loadtest.mass_client SPEC_JSON     # then one line on stdin: the start (epoch s)

Its own process, so its work never lands in the gateway's measurements, and raw asyncio
protocols on uvloop (no HTTP client library), so one process keeps up with thousands of
streams at 30 events/s. Each stream is its own connection, as each user's is. Stream ``g``
(of ``total``, this process taking every ``processes``-th from ``offset``) is due at
``start + g * spread / total``; its time to first token is counted from when it was due, so
a late client (or a gateway slow to accept) shows in the figures instead of hiding.

Writes ``OUT.json`` (counts, errors), ``OUT.ttft`` and ``OUT.gaps`` (float64 arrays, seconds):
the TTFT of every successful stream, and the waits between reads that carried events.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson
import uvloop

from loadtest.lean_engine import raise_open_files
from loadtest.lean_stats import StreamTiming

_HEAD_END = b"\r\n\r\n"
_LAST_CHUNK = b"0\r\n\r\n"
_ERROR_CODE = re.compile(rb'"code"\s*:\s*"([^"]{1,64})"')


@dataclass
class Spec:
    host: str
    ports: list[int]  # stream g connects to ports[g % len(ports)]
    request: bytes
    total: int
    offset: int
    processes: int
    spread: float
    deadline: float  # seconds after the start by which every stream must have ended
    out: Path

    @classmethod
    def from_json(cls, raw: str) -> Spec:
        data = orjson.loads(raw)
        data["request"] = data["request"].encode("latin-1")
        data["out"] = Path(data["out"])
        return cls(**data)


def request_bytes(host: str, port: int, path: str, body: bytes, key: str | None) -> bytes:
    auth = f"authorization: Bearer {key}\r\n" if key else ""
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"accept: text/event-stream\r\n{auth}content-length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


@dataclass(eq=False)
class StreamProtocol(asyncio.Protocol):
    """One stream: sends the request, counts events (``\\n\\n``) as the reads bring them."""

    request: bytes
    due: float  # loop time the stream was due: TTFT and arrivals are counted from it
    done: asyncio.Future[None]
    arrivals: array[float] = field(default_factory=lambda: array("d"))
    events: int = 0
    status: int = 0
    finished: bool = False  # [DONE] arrived, and the last chunk or the end of the connection
    done_seen: bool = False
    error: str | None = None
    _head: bytes = b""
    _tail: bytes = b""
    _transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = asyncio.get_running_loop().time()
        if not self.status:
            self._head += data
            end = self._head.find(_HEAD_END)
            if end < 0:
                return
            head, data = self._head[:end], self._head[end + 4 :]
            self._head = b""
            parts = head.split(b" ", 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
        if self.status != 200:
            self._refused(data)
            return
        joined = self._tail + data
        count = joined.count(b"\n\n") - self._tail.count(b"\n\n")
        if count:
            self.events += count
            self.arrivals.append(now - self.due)
        self._tail = joined[-32:]
        self.done_seen = self.done_seen or b"[DONE]" in joined
        if self.done_seen and joined.endswith(_LAST_CHUNK):
            self.finished = True
            self._close()

    def _refused(self, data: bytes) -> None:
        """An error answer: named by its status and OpenAI error code, once the code came."""
        self._head += data
        code = _ERROR_CODE.search(self._head)
        if code is None and len(self._head) < 4096:
            self.error = f"HTTP {self.status}"
            return  # the body may still be on its way (connection_lost names it as it is)
        self.error = f"HTTP {self.status} {code.group(1).decode() if code else ''}".strip()
        self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.finished = self.finished or (self.done_seen and exc is None and self.error is None)
        if not self.finished and self.error is None:
            self.error = type(exc).__name__ if exc else "closed before [DONE]"
        if not self.done.done():
            self.done.set_result(None)

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()


@dataclass
class Outcome:
    ttfts: array[float] = field(default_factory=lambda: array("d"))
    gaps: array[float] = field(default_factory=lambda: array("d"))
    streams: int = 0
    ok: int = 0
    events: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    connect_lag_max: float = 0.0

    def add(self, stream: StreamProtocol) -> None:
        self.streams += 1
        self.events += stream.events
        timing = StreamTiming(stream.finished, tuple(stream.arrivals), stream.events)
        if timing.ok and timing.ttft is not None:
            self.ok += 1
            self.ttfts.append(timing.ttft)
            self.gaps.extend(timing.gaps())
        else:
            self.errors[stream.error or "unfinished"] += 1


async def one(spec: Spec, index: int, due: float, outcome: Outcome) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, due - loop.time()))
    now = loop.time()
    outcome.connect_lag_max = max(outcome.connect_lag_max, now - due)
    done: asyncio.Future[None] = loop.create_future()
    # From when it was due, or from now if the timer woke early (uvloop's are 1 ms coarse).
    stream = StreamProtocol(spec.request, min(due, now), done)
    try:
        port = spec.ports[index % len(spec.ports)]
        await loop.create_connection(lambda: stream, spec.host, port)
        await done
    except OSError as exc:
        stream.error = type(exc).__name__
    except asyncio.CancelledError:
        stream.error = stream.error or "unfinished at the deadline"
        if stream._transport is not None:
            stream._transport.abort()
    outcome.add(stream)


async def run(spec: Spec, start_epoch: float) -> Outcome:
    loop = asyncio.get_running_loop()
    start = loop.time() + (start_epoch - time.time())
    outcome = Outcome()
    tasks = [
        asyncio.ensure_future(one(spec, g, start + g * spec.spread / spec.total, outcome))
        for g in range(spec.offset, spec.total, spec.processes)
    ]
    _done, pending = await asyncio.wait(tasks, timeout=start + spec.deadline - loop.time())
    for task in pending:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*pending, return_exceptions=True)
    return outcome


def write(outcome: Outcome, out: Path) -> None:
    summary: dict[str, Any] = {
        "streams": outcome.streams,
        "ok": outcome.ok,
        "events": outcome.events,
        "errors": dict(outcome.errors),
        "connect_lag_max": outcome.connect_lag_max,
        "cpu_s": time.process_time(),
    }
    out.with_suffix(".json").write_bytes(orjson.dumps(summary))
    with open(out.with_suffix(".ttft"), "wb") as file:
        outcome.ttfts.tofile(file)
    with open(out.with_suffix(".gaps"), "wb") as file:
        outcome.gaps.tofile(file)


def read(out: Path) -> tuple[dict[str, Any], array[float], array[float]]:
    """What a client process wrote: its summary, TTFTs and gaps."""
    summary: dict[str, Any] = orjson.loads(out.with_suffix(".json").read_bytes())
    arrays = []
    for suffix in (".ttft", ".gaps"):
        values = array("d")
        values.frombytes(out.with_suffix(suffix).read_bytes())
        arrays.append(values)
    return summary, arrays[0], arrays[1]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec = Spec.from_json(args[0])
    raise_open_files()
    print("ready", flush=True)
    start_epoch = float(sys.stdin.readline())
    outcome = uvloop.run(run(spec, start_epoch))
    write(outcome, spec.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
