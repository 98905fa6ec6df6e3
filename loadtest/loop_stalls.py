"""Event-loop stalls at one client: latency tails, and what held the loop when it stalled.

    python -m loadtest.loop_stalls [--baseline HEAD] [--after DIR] [--requests 2000]
                                   [--rounds 4] [--stores embedded,redis]
                                   [--policies none,gdpr-default] [--audit file|postgres]
                                   [--speed 0.01] [--keep DIR]
    python -m loadtest.loop_stalls --report DIR     # the report again, from --keep's records

One client, no queueing: whatever makes a request slower than the median here is the
gateway's own event loop being held by something else. Gateways in one run, in front of one
simulated engine at a tiny ``speed`` (an answer in well under a millisecond), phases
alternated over them so the shared machine's noise falls on all alike:

- **after**: this checkout (or the folder ``--after``); **before**: ``--baseline`` (a git
  revision, extracted with ``git archive`` into a temporary folder; a folder; ``none``);
- each with the embedded store and with the Redis store (127.0.0.1:6379, a tenant and a key
  with every limit set), each with the policy off and with ``gdpr-default``; audit (the file
  sink with fsync, or ``--audit postgres``: a database of its own per gateway on
  127.0.0.1:5432), log lines, metrics and spans on, as shipped.

Every gateway carries the stall probe (``loadtest/stall_probe.py``, loaded by a
``sitecustomize`` hook): a tick every 1 ms, every task step timed, gc callbacks. Reports
p50/p99/p99.9/max latency of a non-streaming request and TTFT of a short stream, stalls
(ticks >= 1 ms late) per second of load and their sources, and the longest hold of the loop
by each periodic job and gc generation (``loadtest/stall_report.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml

from loadtest.local import free_port, wait_http
from loadtest.overhead import MODEL, body
from loadtest.overhead_client import run_closed_loop
from loadtest.quota_overhead import KEY, REDIS_URL, ROOT, cleanup, gateway_config, process
from loadtest.stall_report import Side, analyse, render

POSTGRES = "postgresql://postgres@127.0.0.1:5432/"
HOOK = """\
import os

if os.environ.get("STALL_PROBE_OUT"):
    import stall_probe

    stall_probe.attach_to_uvicorn(os.environ["STALL_PROBE_OUT"])
"""


@dataclass
class Gateway:
    side: Side
    url: str
    folder: Path  # its working folder: config, audit, the probe's record
    tenant: str | None  # the Redis tenant to clean up
    database: str | None  # the audit database to drop


@contextlib.contextmanager
def revision_tree(revision: str) -> Iterator[Path]:
    """The files of ``revision`` in a temporary folder (``git archive``: no worktree)."""
    with tempfile.TemporaryDirectory(prefix="sg-stalls-tree-") as folder:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        yield Path(folder)


def _database() -> str:
    name = "stalls_" + uuid.uuid4().hex[:10]
    with psycopg.connect(POSTGRES + "postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return name


def _drop(database: str) -> None:
    with psycopg.connect(POSTGRES + "postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def _start(
    servers: contextlib.ExitStack,
    name: str,
    code: Path,
    scratch: Path,
    settings: tuple[str, str, str, str],
    env: dict[str, str],
) -> Gateway:
    engine, store, policy, audit = settings
    folder = scratch / f"g{len(list(scratch.glob('g*')))}"
    folder.mkdir()
    port = free_port()
    tenant = f"stalls-{uuid.uuid4().hex[:8]}"
    config = gateway_config(engine, port, tenant, REDIS_URL if store == "redis" else None)
    config["privacy"] = {"default_policy": None if policy == "none" else policy}
    database = _database() if audit == "postgres" else None
    if database is not None:
        sink = {"jurisdiction": "DE", "operator": "benchmark", "dsn": POSTGRES + database}
        config["telemetry"] = {"audit": sink}
    (folder / "gateway.yaml").write_text(yaml.safe_dump(config))
    child_env = {
        **env,
        "PYTHONPATH": f"{scratch / 'hook'}{os.pathsep}{code}",
        "STALL_PROBE_OUT": str(folder / "probe.json"),
    }
    argv = [sys.executable, "-m", "gateway.cli", "serve", "--config", "gateway.yaml"]
    servers.enter_context(process(argv, folder, child_env))
    side = Side(f"{name}, {store}, policy {policy}, audit {audit}")
    return Gateway(
        side, f"http://127.0.0.1:{port}", folder, tenant if store == "redis" else None, database
    )


async def measure(gateways: list[Gateway], args: argparse.Namespace) -> None:
    """A warm-up per gateway, then phases alternated: non-streaming, then short streams."""
    for gateway in gateways:  # first uses (imports, caches) are start-up, not stalls
        for stream in (False, True):
            await run_closed_loop(gateway.url, KEY, body(stream, 16), 1, 200)
    per_round = max(1, args.requests // args.rounds)
    for round_ in range(args.rounds):
        for stream in (False, True):
            for gateway in gateways:
                side = gateway.side
                started = time.time()
                samples = await run_closed_loop(gateway.url, KEY, body(stream, 16), 1, per_round)
                side.windows.append((started, time.time()))
                side.failures += sum(not s.ok for s in samples)
                if stream:
                    side.ttft += [s.ttft for s in samples]
                else:
                    side.latency += [s.latency for s in samples]
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> list[tuple[Side, dict[str, Any]]]:
    """Start the engine and the gateways, measure, stop them; each side with its record."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVEREIGN_")}
    engine_port = free_port()
    engine = f"http://127.0.0.1:{engine_port}"
    engine_argv = [
        sys.executable, "-m", "serving.simulator", "--profile", "b200/llama-3.1-8b",
        "--model", MODEL, "--engines", "1", "--base-port", str(engine_port),
        "--speed", str(args.speed),
    ]  # fmt: skip
    gateways: list[Gateway] = []
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sg-stalls-")))
        (scratch / "hook").mkdir()
        (scratch / "hook" / "sitecustomize.py").write_text(HOOK)
        probe = (ROOT / "loadtest" / "stall_probe.py").read_text()
        (scratch / "hook" / "stall_probe.py").write_text(probe)
        trees = [("after", args.after.resolve())]
        if Path(args.baseline).is_dir():
            trees.insert(0, ("before", Path(args.baseline).resolve()))
        elif args.baseline.lower() != "none":
            trees.insert(0, (f"before ({args.baseline})", stack.enter_context(
                revision_tree(args.baseline))))  # fmt: skip
        try:
            with contextlib.ExitStack() as servers:
                servers.enter_context(process(engine_argv, ROOT, env))
                wait_http(engine + "/health")
                for store in args.stores.split(","):
                    for policy in args.policies.split(","):
                        for name, code in trees:
                            settings = (engine, store, policy, args.audit)
                            gateways.append(_start(servers, name, code, scratch, settings, env))
                for gateway in gateways:
                    wait_http(gateway.url + "/healthz")
                asyncio.run(measure(gateways, args))
            # The servers have stopped: each probe has written its record.
            return [(g.side, json.loads((g.folder / "probe.json").read_text())) for g in gateways]
        finally:
            for gateway in gateways:
                if gateway.tenant is not None:
                    cleanup(gateway.tenant)
                if gateway.database is not None:
                    _drop(gateway.database)


def keep(folder: Path, runs: list[tuple[Side, dict[str, Any]]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n, (side, record) in enumerate(runs):
        measured = {
            "name": side.name,
            "latency": side.latency,
            "ttft": side.ttft,
            "windows": side.windows,
            "failures": side.failures,
        }
        (folder / f"side-{n}.json").write_text(json.dumps({"side": measured, "probe": record}))


def kept(folder: Path) -> list[tuple[Side, dict[str, Any]]]:
    runs = []
    for path in sorted(folder.glob("side-*.json"), key=lambda p: int(p.stem.split("-")[1])):
        data = json.loads(path.read_text())
        measured = data["side"]
        windows = [(start, end) for start, end in measured.pop("windows")]
        runs.append((Side(**measured, windows=windows), data["probe"]))
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.loop_stalls", description=__doc__)
    parser.add_argument("--baseline", default="HEAD", help="git revision, a folder, or none")
    parser.add_argument("--after", type=Path, default=ROOT, help="the code to compare")
    parser.add_argument("--stores", default="embedded,redis")
    parser.add_argument("--policies", default="none,gdpr-default")
    parser.add_argument("--audit", choices=("file", "postgres"), default="file")
    parser.add_argument("--requests", type=int, default=2000, help="per gateway and mode")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--speed", type=float, default=0.01, help="the simulator's time scale")
    parser.add_argument("--keep", type=Path, help="write each side's records into this folder")
    parser.add_argument("--report", type=Path, help="only report the records --keep wrote")
    parser.add_argument("--out", type=Path, default=Path("loadtest/results/loop_stalls.md"))
    args = parser.parse_args(argv)
    runs = kept(args.report) if args.report is not None else run(args)
    if args.keep is not None and args.report is None:
        keep(args.keep, runs)
    for side, record in runs:
        side.findings = analyse(record, side.windows)
    title = (
        f"Event-loop stalls at one client, {args.requests} requests per gateway and mode, "
        f"phases alternated {args.rounds}x, simulator speed {args.speed}, "
        f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} ({os.cpu_count()} cores)"
    )
    text = "\n".join(render([side for side, _ in runs], title))
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
