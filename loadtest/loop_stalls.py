"""Event-loop stalls at one client: latency tails, and what held the loop when it stalled.

    python -m loadtest.loop_stalls [--requests 2000] [--rounds 4] [--baseline HEAD]
                                   [--stores embedded,redis] [--policies none,gdpr-default]
                                   [--speed 0.01] [--stacks] [--no-holds]

One client, no queueing: whatever makes a request slower than the median here is the
gateway's own event loop being held by something else. Gateways in one run, in front of one
simulated engine at a tiny ``speed`` (an answer in well under a millisecond), phases
alternated over them so the shared machine's noise falls on all alike:

- **after**: this checkout (or the folder ``--after``); **before**: ``--baseline`` (a git
  revision, extracted with ``git archive`` into a temporary folder; ``none`` leaves it out);
- each with the embedded store and with the Redis store (127.0.0.1:6379, a tenant and a key
  with every limit set), each with the policy off and with ``gdpr-default``; audit (file
  sink, fsync), log lines, metrics and spans on, as shipped.

Every gateway carries the stall probe (``loadtest/stall_probe.py``, loaded by a
``sitecustomize`` hook): probe ticks every 1 ms, every task step timed, gc callbacks. Reports
p50/p99/p99.9/max latency of a non-streaming request and TTFT of a short stream, stalls
(probe ticks >= 1 ms late) per second of load and their sources, and the longest hold of the
loop by each periodic job.
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
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from loadtest.local import free_port, wait_http
from loadtest.overhead import MODEL, body, pct
from loadtest.overhead_client import run_closed_loop
from loadtest.quota_overhead import KEY, REDIS_URL, ROOT, cleanup, gateway_config, process
from loadtest.stall_report import PERIODIC, Findings, Window, analyse

HOOK = """\
import os

if os.environ.get("STALL_PROBE_OUT"):
    import stall_probe

    stall_probe.attach_to_uvicorn(
        os.environ["STALL_PROBE_OUT"],
        holds=os.environ.get("STALL_PROBE_HOLDS") == "1",
        stacks=os.environ.get("STALL_PROBE_STACKS") == "1",
    )
"""


@dataclass
class Gateway:
    name: str
    url: str
    probe: Path
    tenant: str | None
    latency: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    failures: int = 0
    findings: Findings = field(default_factory=Findings)


@contextlib.contextmanager
def revision_tree(revision: str) -> Iterator[Path]:
    """The files of ``revision`` in a temporary folder (``git archive``: no worktree)."""
    with tempfile.TemporaryDirectory(prefix="sg-stalls-") as folder:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        yield Path(folder)


def _config(engine: str, port: int, store: str, policy: str, tenant: str) -> dict[str, object]:
    config = gateway_config(engine, port, tenant, REDIS_URL if store == "redis" else None)
    config["privacy"] = {"default_policy": None if policy == "none" else policy}
    return config


def _start(
    stack: contextlib.ExitStack,
    name: str,
    code: Path,
    config: dict[str, object],
    folder: Path,
    env: dict[str, str],
) -> tuple[str, Path]:
    folder.mkdir(parents=True)
    (folder / "gateway.yaml").write_text(yaml.safe_dump(config))
    probe = folder / "probe.json"
    child_env = {
        **env,
        "PYTHONPATH": f"{folder.parent / 'hook'}{os.pathsep}{code}",
        "STALL_PROBE_OUT": str(probe),
    }
    argv = [sys.executable, "-m", "gateway.cli", "serve", "--config", "gateway.yaml"]
    stack.enter_context(process(argv, folder, child_env))
    server = config["server"]
    assert isinstance(server, dict)
    return f"http://127.0.0.1:{server['port']}", probe


async def measure(gateways: list[Gateway], args: argparse.Namespace) -> None:
    """A warm-up per gateway, then phases alternated: non-streaming, then short streams."""
    for gateway in gateways:
        await run_closed_loop(gateway.url, KEY, body(False, 16), 1, 200)
    per_round = max(1, args.requests // args.rounds)
    for _ in range(args.rounds):
        for stream in (False, True):
            for gateway in gateways:
                started = time.time()
                samples = await run_closed_loop(gateway.url, KEY, body(stream, 16), 1, per_round)
                gateway.windows.append((started, time.time()))
                gateway.failures += sum(not s.ok for s in samples)
                if stream:
                    gateway.ttft += [s.ttft for s in samples]
                else:
                    gateway.latency += [s.latency for s in samples]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.loop_stalls", description=__doc__)
    parser.add_argument(
        "--baseline", default="HEAD", help="git revision, a folder with the code, or none"
    )
    parser.add_argument(
        "--after", type=Path, default=ROOT, help="the gateway's code to compare (a folder)"
    )
    parser.add_argument("--stores", default="embedded,redis")
    parser.add_argument("--policies", default="none,gdpr-default")
    parser.add_argument("--requests", type=int, default=2000, help="per gateway and mode")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--speed", type=float, default=0.01, help="the simulator's time scale")
    parser.add_argument("--stacks", action="store_true", help="sample the loop's stack too")
    parser.add_argument("--no-holds", action="store_true", help="do not time task steps")
    parser.add_argument("--keep", type=Path, help="copy each probe's record into this folder")
    parser.add_argument("--out", type=Path, default=Path("loadtest/results/loop_stalls.md"))
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVEREIGN_")}
    env["STALL_PROBE_HOLDS"] = "0" if args.no_holds else "1"
    env["STALL_PROBE_STACKS"] = "1" if args.stacks else "0"
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
        (scratch / "hook" / "stall_probe.py").write_text(
            (ROOT / "loadtest" / "stall_probe.py").read_text()
        )
        trees = [("after", args.after.resolve())]
        if Path(args.baseline).is_dir():
            trees.insert(0, (f"before ({args.baseline})", Path(args.baseline).resolve()))
        elif args.baseline.lower() != "none":
            trees.insert(0, (f"before ({args.baseline})", stack.enter_context(
                revision_tree(args.baseline))))  # fmt: skip
        with contextlib.ExitStack() as servers:
            servers.enter_context(process(engine_argv, ROOT, env))
            wait_http(engine + "/health")
            for store in args.stores.split(","):
                for policy in args.policies.split(","):
                    for label, code in trees:
                        n = len(gateways)
                        tenant = f"stalls-{n}-{uuid.uuid4().hex[:6]}"
                        config = _config(engine, free_port(), store, policy, tenant)
                        url, probe = _start(servers, f"g{n}", code, config, scratch / f"g{n}", env)
                        gateways.append(
                            Gateway(f"{label}, {store}, policy {policy}", url, probe,
                                    tenant if store == "redis" else None)
                        )  # fmt: skip
            for gateway in gateways:
                wait_http(gateway.url + "/healthz")
            try:
                asyncio.run(measure(gateways, args))
            finally:
                for gateway in gateways:
                    if gateway.tenant is not None:
                        cleanup(gateway.tenant)
        # The servers have stopped: each probe has written its record.
        for gateway in gateways:
            record = json.loads(gateway.probe.read_text())
            gateway.findings = analyse(record, gateway.windows)
            if args.keep is not None:
                args.keep.mkdir(parents=True, exist_ok=True)
                kept = {"gateway": gateway.name, "windows": gateway.windows, **record}
                (args.keep / f"{gateway.probe.parent.name}.json").write_text(json.dumps(kept))
    text = "\n".join(report(gateways, args))
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def report(gateways: list[Gateway], args: argparse.Namespace) -> list[str]:
    lines = [
        f"Event-loop stalls at one client, {args.requests} requests per gateway and mode, "
        f"phases alternated {args.rounds}x, simulator speed {args.speed}, "
        f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} ({os.cpu_count()} cores); "
        f"failures: {sum(g.failures for g in gateways)}; times in ms",
        "",
        "| gateway | p50 | p99 | p99.9 | max | p99/p50 | TTFT p50 | TTFT p99 | TTFT p99.9 "
        "| stalls/s | worst stall |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for g in gateways:
        p50, p99 = pct(g.latency, 0.5), pct(g.latency, 0.99)
        cells = [_ms(p50), _ms(p99), _ms(pct(g.latency, 0.999)), _ms(max(g.latency))]
        cells.append(f"{p99 / p50:.1f}x")
        cells += [_ms(pct(g.ttft, q)) for q in (0.5, 0.99, 0.999)]
        cells += [f"{g.findings.stalls_per_second():.2f}", _ms(g.findings.worst())]
        lines.append(f"| {g.name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Stall sources (stalls >= 1 ms, count and longest, most stalling time first):",
        "",
    ]
    for g in gateways:
        ranked = g.findings.by_source()[:6]
        found = "; ".join(f"{s} {n}x, max {_ms(worst)}" for s, n, worst in ranked) or "none"
        lines.append(f"- {g.name}: {found}")
    lines += [
        "",
        "Longest single hold of the loop by each periodic job (one task step) and gc "
        "generation (one collection), ms of CPU (wall); gc: how many collections",
        "",
    ]
    sources = [s for s in PERIODIC if any(g.findings.holds.get(s) for g in gateways)]
    lines.append("| gateway | " + " | ".join(sources) + " | gc gen0 | gc gen1 | gc gen2 |")
    lines.append("| --- |" + " ---: |" * (len(sources) + 3))
    for g in gateways:
        cells = [_hold(*g.findings.longest_hold(source)) for source in sources]
        for gen in (0, 1, 2):
            count = len(g.findings.gc.get(gen, []))
            cells.append(f"{_hold(*g.findings.longest_gc(gen))}, {count}x")
        lines.append(f"| {g.name} | " + " | ".join(cells) + " |")
    return lines


def _hold(wall: float, cpu: float) -> str:
    return f"{_ms(cpu)} ({_ms(wall)})" if wall else "-"


if __name__ == "__main__":
    raise SystemExit(main())
