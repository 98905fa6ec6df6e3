"""Where a relay's CPU goes: py-spy over a relay process while the load client drives it.

Samples are read from py-spy's raw output and attributed, from the innermost frame outwards,
to the first stage they belong to (the labels below); a sample whose innermost frame is the
event loop's own runner was in C (uvloop or granian: polling, socket reads and writes).
py-spy sees Python frames only: C called from Python counts to its caller.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from loadtest.hotpath.bodies import request
from loadtest.hotpath.fleet import Fleet

# (label, substrings of a frame), tried from the innermost frame outwards.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tap (metering bookkeeping)", ("Meter.__call__",)),
    (
        "request check (parse, validate, forward body)",
        ("_prepare ", "from_model ", "solve_dependencies", "_validate"),
    ),
    (
        "write to client (ASGI send / RSGI send_bytes)",
        (
            "RequestResponseCycle.send ",
            "RelayResponse._send ",
            "send_bytes",
            "http.send",
            "ASGITransport",
        ),
    ),
    ("disconnect watch (anyio task group, RSGI waiter)", ("/anyio/", "_relay_stream ")),
    (
        "upstream request (aiohttp connect, write)",
        (
            "ClientSession._request",
            "ClientRequest",
            "write_bytes",
            "TCPConnector",
            "ClientResponse.start",
        ),
    ),
    (
        "upstream read (aiohttp protocol, StreamReader)",
        ("ResponseHandler", "StreamReader", "streams.py"),
    ),
    (
        "SSE split and checks (relay loop)",
        ("sse_events ", "well_formed ", "ends_stream ", "StreamSource.events "),
    ),
    (
        "response set-up (headers, Response objects)",
        ("Response.", "init_headers", "error_response"),
    ),
    ("routing, FastAPI/Starlette layers", ("/fastapi/", "/starlette/")),
    ("server: head parse, scope, protocol", ("/uvicorn/", "gateway/server.py", "/granian/")),
    ("relay's own glue", ("loadtest/hotpath",)),
)
_LOOP = ("Runner.run", "run_until_complete", "run_forever", "_run_once")


def stage_of(frames: list[str]) -> str:
    if frames and frames[-1].startswith(_LOOP):
        return "event loop in C (polling, socket reads/writes)"
    for frame in reversed(frames):
        for label, marks in STAGES:
            if any(mark in frame for mark in marks):
                return label
    return "other: " + (frames[-1].split(" (")[0] if frames else "?")


def parse_raw(lines: Iterable[str]) -> Counter[str]:
    """Samples per stage from py-spy's ``--format raw`` (``frame;frame;... count``)."""
    stages: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            stages[stage_of(stack.split(";"))] += int(count)
    return stages


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [str(py_spy), "record", "--pid", str(pid), "--subprocesses", "--rate", "250",
         "--format", "raw", "--full-filenames", "--nolineno", "--nonblocking",
         "--duration", str(int(seconds)), "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def profile(fleet: Fleet, name: str, stream: bool, seconds: float = 8.0) -> list[str]:
    """A table of stages for ``seconds`` of load: 256-token streams or whole answers, 16
    connections."""
    relay = fleet.relays[name]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "raw.txt"
        spy = record(relay.process.pid, seconds, out)
        time.sleep(1.0)  # py-spy attaches
        body = request(stream, 256 if stream else 16)
        before = relay.cpu.seconds()
        result = fleet.client.run(relay.port, body, 16, 10**9, seconds=seconds - 1.5)
        used = relay.cpu.seconds() - before
        spy.wait(seconds + 30)
        stages = parse_raw(out.read_text().splitlines()) if out.exists() else Counter()
    units = result["events"] if stream else len(result["latencies"])
    per_unit = used / max(units, 1)
    total = sum(stages.values()) or 1
    unit = "event" if stream else "request"
    lines = [
        f"`{name}`, {'256-token streams' if stream else 'whole answers'} at 16 connections: "
        f"{units:,} {unit}s, {per_unit * 1e6:.1f} µs CPU per {unit} in this window "
        f"(py-spy running), {total:,} samples.",
        "",
        f"| stage | share of samples | ≈ µs per {unit} |",
        "| --- | ---: | ---: |",
    ]
    for label, count in stages.most_common():
        share = count / total
        lines.append(f"| {label} | {share:.0%} | {share * per_unit * 1e6:.1f} |")
    return lines
