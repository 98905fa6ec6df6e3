"""Where one gateway worker's CPU goes, per request and per relayed event (issue 13).

    python -m loadtest.lean_profile [--mode full|quick] [--policy gdpr-default|none]
        [--load plain|events|streams|both] [--seconds 20] [--revision REV] [--keep DIR]

Starts the near-instant engine (``loadtest.lean_engine``) and one gateway worker as
``loadtest.lean_overhead`` does ("full": the shared store on the local Redis with all four
limits, audit file, JSON logs, Prometheus metrics; "quick": embedded store, no limits), warms
it up, then samples it with ``py-spy record --format raw --nonblocking`` (every thread,
100 Hz) while wrk drives it at 16 connections:

- ``plain``: 16-token answers written at once, so nearly all the CPU is per-request work;
- ``events``: streams of 256 tokens paced 1 ms apart by the engine (8 connections), so
  nearly all of it is per-event work;
- ``streams``: streams of 16 tokens the engine writes at once (16 connections): what a
  stream costs whole when its events arrive together.

Each sample goes to the *innermost* frame that belongs to a known part (the gateway's own
packages by sub-package, uvicorn, aiohttp, Starlette/FastAPI, redis, Presidio/spaCy, the
event loop...); shares are printed with the microseconds they make of the CPU measured over
the same window (psutil) divided by the requests or events served. py-spy sees Python frames
only: a C call (a socket write, uvloop's own work) counts to the Python frame that made it,
and uvloop's C work, under no Python frame but asyncio's runner, is "event loop in C".
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import httpx

from loadtest.lean_engine import MODEL, PACED_SUFFIX
from loadtest.lean_procs import (
    Pipeline,
    Proc,
    Processes,
    chat_body,
    full_pipeline_config,
    gateway_tree,
    new_key,
    redis_tenant,
    run_wrk,
    start_config_gateway,
    start_engine,
    start_quick_gateway,
    wait_ready,
    wait_serving,
)

PACED = MODEL + PACED_SUFFIX
# (bucket, pattern on "function (file)"), first match from the innermost frame outwards.
LOOP = "event loop in C (uvloop: socket reads, wake-ups, task switches)"
PARTS: tuple[tuple[str, str], ...] = (
    ("profiler probe", r"stall_probe"),
    # uvloop runs in C under asyncio's runner: samples whose innermost Python frame is the
    # runner are the loop's own native work.
    (LOOP, r"^Runner\.run |^run_forever |^run_until_complete "),
    ("gateway: privacy (policy, answer guard, analysis)", r"/gateway/privacy/|/policies/"),
    ("Presidio / spaCy analysis", r"/(presidio_analyzer|presidio_anonymizer|spacy|thinc)/"),
    ("gateway: upstream (relay, engines, routing)", r"/gateway/(upstream|routing)/"),
    ("gateway: quota and metering (Redis scripts)", r"/gateway/(quota|metering)/"),
    ("gateway: telemetry, audit, logs", r"/gateway/(telemetry|audit)/"),
    ("gateway: request path (pipeline, edge, auth)", r"/gateway/"),
    ("redis client", r"/redis/"),
    ("aiohttp (engine client)", r"/(aiohttp|multidict|yarl|aiohappyeyeballs)/"),
    ("httpx / httpcore", r"/(httpx|httpcore|httpx_aiohttp)/"),
    ("uvicorn (HTTP server, ASGI send)", r"/uvicorn/"),
    ("Starlette / FastAPI", r"/(starlette|fastapi)/"),
    ("pydantic", r"/pydantic"),
    ("OpenTelemetry / Prometheus client", r"/(opentelemetry|prometheus_client)/"),
    ("orjson / json", r"/json/"),
    ("anyio", r"/anyio/"),
    ("threads (queues, locks, wake-ups)", r"/(threading|queue|concurrent/futures)\.py|"
                                          r"/concurrent/futures/"),
    ("asyncio / uvloop Python glue", r"/asyncio/|uvloop"),
    ("logging", r"/logging/"),
)  # fmt: skip
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::\d+)?\)$")


def bucket(stack: str) -> str:
    """The part a raw py-spy stack (frames outermost first, ``;``-joined) belongs to."""
    frames = stack.split(";")
    for frame in reversed(frames):
        match = _FRAME.match(frame.strip())
        # py-spy names files relative to sys.path (``gateway/edge.py``) or absolutely.
        text = f"{match['func']} (/{match['file'].lstrip('/')})" if match else frame
        for name, pattern in PARTS:
            if re.search(pattern, text):
                return name
    if any("run_forever" in f or "_run_once" in f for f in frames) or len(frames) <= 2:
        return LOOP
    return "other: " + frames[-1].strip()[:60]


def tally(lines: Iterable[str]) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            counts[bucket(stack)] += int(count)
    return counts


def profile(proc: Proc, key: str, load: str, seconds: int, folder: Path) -> tuple[
    collections.Counter[str], float, int
]:  # fmt: skip
    """Samples by part, CPU seconds and units (requests or events) over one wrk run."""
    raw = folder / f"profile-{load}.txt"
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    sampler = subprocess.Popen(
        [spy, "record", "--pid", str(proc.process.pid), "--format", "raw", "--nonblocking",
         "--threads", "--rate", "100", "--duration", str(seconds + 2), "--output", str(raw)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)
    cpu = proc.cpu()
    if load == "plain":
        result = run_wrk(proc.url, chat_body(MODEL, 16, False), key, 0, 16, seconds, folder)
        units = result.requests
    elif load == "streams":
        result = run_wrk(proc.url, chat_body(MODEL, 16, True), key, 16, 16, seconds, folder)
        units = result.requests
    else:
        result = run_wrk(proc.url, chat_body(PACED, 256, True), key, 256, 8, seconds, folder)
        units = result.events or result.requests * 256
    used = proc.cpu() - cpu
    sampler.wait(timeout=seconds + 60)
    # Thread names (--threads) lead each stack: not a part, so they are cut off here.
    lines = [drop_thread(line) for line in raw.read_text().splitlines()]
    return tally(lines), used, units


def drop_thread(line: str) -> str:
    head, sep, rest = line.partition(";")
    return rest if sep and head.startswith(("process ", "thread ")) else line


def report(counts: collections.Counter[str], cpu: float, units: int, unit: str) -> list[str]:
    total = sum(counts.values()) or 1
    per_unit = cpu / max(units, 1) * 1e6
    lines = [f"CPU {cpu:.2f} s over {units:,} {unit}s: {per_unit:.1f} µs per {unit}",
             f"| part | share | µs per {unit} |", "| --- | ---: | ---: |"]  # fmt: skip
    for name, count in counts.most_common():
        share = count / total
        lines.append(f"| {name} | {share:.1%} | {share * per_unit:.1f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("full", "quick"), default="full")
    parser.add_argument("--policy", default="gdpr-default", help="gdpr-default or none")
    parser.add_argument("--load", choices=("plain", "events", "streams", "both"),
                        default="both")  # fmt: skip
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--revision", help="profile the gateway of this git revision")
    parser.add_argument("--keep", type=Path, help="copy py-spy's raw files to this folder")
    args = parser.parse_args(argv)
    policy = None if args.policy == "none" else args.policy
    loads = ("plain", "events") if args.load == "both" else (args.load,)
    with redis_tenant("leanprof") as tenant, gateway_tree(args.revision) as tree, \
            tempfile.TemporaryDirectory(prefix="sg-prof-") as scratch, \
            Processes(Path(scratch)) as procs:  # fmt: skip
        folder = Path(scratch)
        engine = start_engine(procs, "engine", interval_ms=1.0)
        wait_ready(engine, "/health", timeout=30)
        key = new_key()
        if args.mode == "quick":
            gateway = start_quick_gateway(procs, "gateway", engine.url, key, policy, tree)
        else:
            config = full_pipeline_config([engine.url], [MODEL, PACED], folder / "gateway",
                                          Pipeline(tenant, key, policy))  # fmt: skip
            gateway = start_config_gateway(procs, "gateway", config, tree)
        wait_ready(gateway, "/healthz")
        wait_serving(gateway, key, MODEL)
        with httpx.Client(base_url=gateway.url, timeout=30,
                          headers={"authorization": f"Bearer {key}"}) as client:  # fmt: skip
            for body in (chat_body(MODEL, 16, False), chat_body(PACED, 64, True)):
                for _ in range(50):
                    client.post("/v1/chat/completions", json=body)
        print(f"# {args.mode}, policy {args.policy}, one worker, wrk 16 connections")
        for load in loads:
            counts, cpu, units = profile(gateway, key, load, args.seconds, folder)
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(folder / f"profile-{load}.txt", args.keep)
            unit = "event" if load == "events" else "request"
            print(f"\n## {load}: per {unit}")
            print("\n".join(report(counts, cpu, units, unit)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
