"""How long an event loop waits for the GIL while a thread does pure-Python work.

    python -m loadtest.gil_wait [--seconds 10] [--batch 250]

Work moved to a thread still holds the loop back when it is Python: the loop, woken by a
socket, needs the GIL, and the thread keeps it until the interpreter's switch interval has
passed (5 ms by default). Here the thread does what the audit file writer does with a
telemetry flush's batch, every 250 ms: link ``--batch`` sealed records into the chain and
serialise them (``link_all``, ``model_dump``, ``orjson``), ~40 us a record. The loop runs a
probe that sleeps 1 ms and notes how late it wakes. Both switch intervals in one run,
alternated, and the loop without the thread (the machine's own noise); start-up's objects
frozen as the gateway does. Reports lateness percentiles and the ticks 1 and 2 ms late.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import threading
import time

import orjson
import uvloop

from gateway.audit.chain import EMPTY, draft, link_all
from gateway.audit.records import RequestAudit
from loadtest.stall_report import percentile_ms

INTERVALS = (0.005, 0.0005)
ALONE = 0.0  # the loop without the writer thread


def _record(n: int) -> RequestAudit:
    return RequestAudit(
        at=time.time(), tenant="acme", request_id=f"req-{n}", key_id="acme-1", gateway="gw",
        endpoint="chat.completions", model="llama-3.1-8b", pool="local", site="local",
        jurisdiction="DE", engine="http://127.0.0.1:8000", status="ok", http_status=200,
        policy="gdpr-default@1", policy_mode="enforce", pii="prompt:PERSON:pseudonymize=1",
        started_at=time.time(), duration_ms=1.5, prompt_tokens=20, completion_tokens=16,
    )  # fmt: skip


def _writer(batch: int, stop: threading.Event) -> None:
    drafts = [draft(_record(n), b"s" * 16, b"k" * 32) for n in range(batch)]
    while not stop.wait(0.25):
        entries = link_all(drafts, EMPTY)
        b"".join(orjson.dumps(e.model_dump(mode="json")) + b"\n" for e in entries)


async def _ticks(seconds: float) -> list[float]:
    late: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        due = time.perf_counter() + 0.001
        await asyncio.sleep(0.001)
        late.append(time.perf_counter() - due)
    return late


def measure(interval: float, seconds: float, batch: int) -> list[float]:
    """Ticks' lateness with the writer thread at ``interval`` (``ALONE``: no thread)."""
    if interval == ALONE:
        return uvloop.run(_ticks(seconds))
    sys.setswitchinterval(interval)
    stop = threading.Event()
    writer = threading.Thread(target=_writer, args=(batch, stop), daemon=True)
    writer.start()
    try:
        return uvloop.run(_ticks(seconds))
    finally:
        stop.set()
        writer.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.gil_wait", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="per interval, in all")
    parser.add_argument("--batch", type=int, default=250, help="records per write")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    gc.collect()
    gc.freeze()
    late: dict[float, list[float]] = {interval: [] for interval in (ALONE, *INTERVALS)}
    for _ in range(args.rounds):
        for interval in late:
            late[interval] += measure(interval, args.seconds / args.rounds, args.batch)
    print("| writer thread | ticks | late p50 | p99 | p99.9 | max | >= 1 ms late | >= 2 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for interval, values in late.items():
        name = f"switch interval {interval * 1e3:g} ms" if interval else "none (noise)"
        cells = [percentile_ms(values, q) for q in (0.5, 0.99, 0.999, 1.0)]
        cells += [str(sum(1 for v in values if v >= limit)) for limit in (0.001, 0.002)]
        print(f"| {name} | {len(values)} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
