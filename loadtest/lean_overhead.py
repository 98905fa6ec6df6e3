"""What one gateway worker costs per request and per relayed event (issue 13), against LiteLLM.

    python -m loadtest.lean_overhead [--quick] [--rounds 2] [--no-litellm] [--json PATH]

One run, side by side, on one near-instant engine (``loadtest.lean_engine``, its own
process) with wrk as the client (``loadtest/wrk/chat.lua``), against:

- **engine alone**: wrk straight at the engine (the reference for added latency);
- **quick, none** / **quick, gdpr-default**: ``sovereign-gateway serve --engine ...``,
  embedded store, no limits, the policy off or on;
- **full, none** / **full, gdpr-default**: ``serve --config``: the shared store on the local
  Redis with all four limits set (never reached), audit trail in a file, JSON logs to a
  file, Prometheus metrics on their port;
- **LiteLLM 1.108**: its proxy, one worker, in its own virtual environment
  (``loadtest.litellm_proxy``), on the same engine.

Every side runs one worker, all are started before measuring, and phases alternate over the
sides (``--rounds`` times, the order rotated each round), so the shared machine's noise falls
on all alike. Measured per side:

- **CPU per request** by the slope method: psutil CPU time of the server process over wrk
  runs of two durations at 16 connections (16-token answers); least-squares slope of CPU over
  requests, so what a run pays once cancels out. CPU spent at rest (scrapes, polls, flushes;
  measured before the phases) is subtracted from every run.
- **CPU per relayed SSE event**: slope of CPU per stream over events per stream, between
  streams of 16 and 256 tokens from the engine's paced model (events 1 ms apart, each its own
  write, as a real engine's decode steps; 8 connections), so the per-request cost cancels out.
- **Latency** p50/p99 of 16-token answers at 1 and at 16 connections, and what the server
  adds to the engine alone at the same load.
- **Requests/s** at 16 connections: plain answers, and 16-token streams written at once.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from loadtest import litellm_proxy
from loadtest.lean_engine import MODEL, PACED_SUFFIX
from loadtest.lean_procs import (
    Pipeline,
    Proc,
    Processes,
    chat_body,
    clean_env,
    describe,
    full_pipeline_config,
    gateway_tree,
    new_key,
    raise_open_files,
    redis_tenant,
    run_wrk,
    start_config_gateway,
    start_engine,
    start_quick_gateway,
    wait_ready,
    wait_serving,
)
from loadtest.lean_stats import (
    WrkResult,
    busy_cpu,
    ms,
    ratio,
    signed_ms,
    slope,
    table,
    us,
    verdict,
)
from loadtest.local import free_port

PACED = MODEL + PACED_SUFFIX
SETTLE_S = 0.3  # after a run: the gateway's batched telemetry (every 250 ms) is flushed


@dataclass(frozen=True)
class Phase:
    name: str
    model: str
    tokens: int
    stream: bool
    connections: int
    seconds: int

    @property
    def min_events(self) -> int:
        """role + tokens + [DONE]; a usage chunk or LiteLLM's finish chunk may come on top."""
        return self.tokens + 2 if self.stream else 0


def phases(quick: bool) -> list[Phase]:
    """wrk runs whole seconds: quick mode takes the shortest that still give two sizes."""
    if quick:
        seconds = {"one": 1, "short": 1, "long": 2, "streams": 1, "paced16": 1, "paced256": 1}
    else:
        seconds = {"one": 2, "short": 2, "long": 5, "streams": 2, "paced16": 2, "paced256": 3}
    return [
        Phase("plain, 1 connection", MODEL, 16, False, 1, seconds["one"]),
        Phase("plain, 16 connections, short", MODEL, 16, False, 16, seconds["short"]),
        Phase("plain, 16 connections, long", MODEL, 16, False, 16, seconds["long"]),
        Phase("streams of 16, 16 connections", MODEL, 16, True, 16, seconds["streams"]),
        Phase("paced streams of 16", PACED, 16, True, 8, seconds["paced16"]),
        Phase("paced streams of 256", PACED, 256, True, 8, seconds["paced256"]),
    ]


@dataclass
class Run:
    phase: str
    wrk: WrkResult
    cpu_s: float  # busy CPU: the run's CPU less the idle rate over its wall time
    wall_s: float


@dataclass
class Side:
    name: str
    kind: str  # engine | gateway | litellm
    proc: Proc
    key: str | None
    idle_rate: float = 0.0
    runs: list[Run] = field(default_factory=list)

    def of(self, phase_prefix: str) -> list[Run]:
        return [r for r in self.runs if r.phase.startswith(phase_prefix)]


@dataclass
class Summary:
    """One side's figures (seconds; rates per second)."""

    cpu_per_request: float = math.nan  # slope, plain
    cpu_per_request_mean: float = math.nan
    cpu_per_stream16: float = math.nan  # instant streams of 16 tokens
    cpu_per_event: float = math.nan  # slope, paced streams 16 vs 256
    p50_1: float = math.nan
    p99_1: float = math.nan
    p50_16: float = math.nan
    p99_16: float = math.nan
    rps_plain: float = math.nan
    rps_streams: float = math.nan
    idle_cpu_per_s: float = math.nan
    failures: int = 0


def summarise(side: Side) -> Summary:
    out = Summary(idle_cpu_per_s=side.idle_rate)
    out.failures = sum(r.wrk.failures for r in side.runs)
    one = side.of("plain, 1 connection")
    plain = side.of("plain, 16 connections")
    streams = side.of("streams of 16")
    paced = side.of("paced streams")
    if one:
        out.p50_1 = statistics.median(r.wrk.p50 for r in one)
        out.p99_1 = statistics.median(r.wrk.p99 for r in one)
    if plain:
        out.p50_16 = statistics.median(r.wrk.p50 for r in plain)
        out.p99_16 = statistics.median(r.wrk.p99 for r in plain)
        out.rps_plain = sum(r.wrk.requests for r in plain) / sum(r.wrk.duration for r in plain)
        out.cpu_per_request_mean = sum(r.cpu_s for r in plain) / sum(r.wrk.requests for r in plain)
        with contextlib.suppress(ValueError):
            out.cpu_per_request = slope((r.wrk.requests, r.cpu_s) for r in plain)
    if streams:
        total = sum(r.wrk.requests for r in streams)
        out.rps_streams = total / sum(r.wrk.duration for r in streams)
        out.cpu_per_stream16 = sum(r.cpu_s for r in streams) / max(total, 1)
    done = [r for r in paced if r.wrk.requests]
    with contextlib.suppress(ValueError):
        out.cpu_per_event = slope(
            (r.wrk.events / r.wrk.requests, r.cpu_s / r.wrk.requests) for r in done
        )
    return out


def measure(side: Side, phase: Phase, folder: Path) -> Run:
    body = chat_body(phase.model, phase.tokens, phase.stream)
    side.proc.check_alive()
    cpu, started = side.proc.cpu(), time.monotonic()
    result = run_wrk(side.proc.url, body, side.key, phase.min_events, phase.connections,
                     phase.seconds, folder)  # fmt: skip
    time.sleep(SETTLE_S)
    wall = time.monotonic() - started
    used = side.proc.cpu() - cpu
    return Run(phase.name, result, busy_cpu(used, wall, side.idle_rate), wall)


def idle_rates(sides: list[Side], seconds: float) -> None:
    """CPU seconds per second of every side at rest, measured together."""
    before = [(s.proc.cpu(), time.monotonic()) for s in sides]
    time.sleep(seconds)
    for side, (cpu, at) in zip(sides, before, strict=True):
        side.idle_rate = max(0.0, (side.proc.cpu() - cpu) / (time.monotonic() - at))


def warm_up(side: Side) -> None:
    """A few requests of every kind: connection pools, caches and lazy imports are warm."""
    headers = {"authorization": f"Bearer {side.key}"} if side.key else {}
    with httpx.Client(base_url=side.proc.url, headers=headers, timeout=30) as client:
        for model, tokens, stream in ((MODEL, 16, False), (MODEL, 16, True), (PACED, 16, True)):
            for _ in range(20):
                client.post("/v1/chat/completions", json=chat_body(model, tokens, stream))


GATEWAYS = [("quick", None), ("quick", "gdpr-default"), ("full", None), ("full", "gdpr-default")]
# --quick: the two sides the targets name most; four gateways take ~35 s to start here.
QUICK_GATEWAYS = [("quick", None), ("full", "gdpr-default")]


def start_sides(
    procs: Processes, engine: Proc, tenant: str, args: argparse.Namespace,
    trees: list[tuple[str, Path]], notes: list[str],
) -> list[Side]:  # fmt: skip
    """``trees``: (label, gateway code); the baseline's sides are named "before: ..."."""
    models = [MODEL, PACED]
    sides = [Side("engine alone", "engine", engine, None)]
    wanted = QUICK_GATEWAYS if args.quick else GATEWAYS
    for (label, tree), (mode, policy) in ((t, g) for t in trees for g in wanted):
        name = f"{label}{mode}, {policy or 'none'}"
        slug = name.replace(", ", "-").replace(": ", "-")
        # A key of its own: the full pipelines share Redis, where one key is one tenant.
        key = new_key()
        if mode == "quick":
            proc = start_quick_gateway(procs, slug, engine.url, key, policy, tree)
        else:
            pipeline = Pipeline(f"{tenant}-{slug}", key, policy)
            config = full_pipeline_config([engine.url], models, procs.folder / slug, pipeline)
            proc = start_config_gateway(procs, slug, config, tree)
        sides.append(Side(name, "gateway", proc, key))
    if not (args.quick or args.no_litellm):
        litellm = start_litellm(procs, engine.url, models, notes)
        if litellm is not None:
            sides.append(litellm)
    for side in sides[1:]:
        health = "/health/liveliness" if side.kind == "litellm" else "/healthz"
        wait_ready(side.proc, health)
        wait_serving(side.proc, side.key, MODEL)
    return sides


def start_litellm(
    procs: Processes, engine: str, models: list[str], notes: list[str]
) -> Side | None:
    folder = litellm_proxy.home()
    try:
        litellm_proxy.install(folder)
    except (subprocess.CalledProcessError, OSError) as exc:
        notes.append(f"LiteLLM left out: installing litellm[proxy]=={litellm_proxy.LITELLM_VERSION}"
                     f" failed ({exc})")  # fmt: skip
        return None
    key = new_key()
    port = free_port()
    scratch = procs.folder / "litellm"
    scratch.mkdir(parents=True, exist_ok=True)
    argv = litellm_proxy.command(folder, scratch, engine, models, key, port)
    proc = procs.start("litellm", argv, f"http://127.0.0.1:{port}",
                       env=litellm_proxy.environment(clean_env()), cwd=scratch)  # fmt: skip
    return Side(f"LiteLLM {litellm_proxy.LITELLM_VERSION}", "litellm", proc, key)


def run(args: argparse.Namespace, notes: list[str]) -> list[Side]:
    plan = phases(args.quick)
    # The tenant outlives the processes: its Redis keys go once no gateway writes them.
    with redis_tenant("lean") as tenant, gateway_tree(args.revision) as tree, \
            gateway_tree(args.baseline) as base_tree, \
            tempfile.TemporaryDirectory(prefix="sg-lean-") as scratch, \
            Processes(Path(scratch)) as procs:  # fmt: skip
        folder = Path(scratch)
        engine = start_engine(procs, "engine", interval_ms=1.0)
        wait_ready(engine, "/health", timeout=30)
        trees = [("", tree)] + ([("before: ", base_tree)] if args.baseline else [])
        sides = start_sides(procs, engine, tenant, args, trees, notes)
        for side in sides:
            warm_up(side)
        idle_rates(sides, 1.5 if args.quick else 3.0)
        for round_ in range(args.rounds):
            order = sides[round_ % len(sides) :] + sides[: round_ % len(sides)]
            for phase in plan:
                for side in order:
                    side.runs.append(measure(side, phase, folder))
                    print(".", end="", flush=True, file=sys.stderr)
        print(file=sys.stderr)
    return sides


def report(
    sides: list[Side], summaries: dict[str, Summary], args: argparse.Namespace,
    command: str, notes: list[str], load: tuple[str, str],
) -> list[str]:  # fmt: skip
    engine = summaries["engine alone"]
    litellm = next((s for s in sides if s.kind == "litellm"), None)
    plan = phases(args.quick)
    lines = [
        f"Lean request path (issue 13): `{command}`",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}); load average {load[0]} before, {load[1]} after; "
        f"{args.rounds} round(s) of {len(plan)} phases over {len(sides)} sides, alternated; "
        f"one worker each; client wrk (1 thread); gateway: {describe(args.revision)}. Times in "
        "ms, CPU in ms or µs of the server process.",
        "",
        "CPU per request and per relayed event (slope method; CPU at rest subtracted):",
        "",
    ]
    cpu_rows = []
    for side in sides:
        s = summaries[side.name]
        cpu_rows.append([side.name, ms(s.cpu_per_request, 3), ms(s.cpu_per_request_mean, 3),
                         ms(s.cpu_per_stream16, 3), us(s.cpu_per_event),
                         f"{s.idle_cpu_per_s * 1e3:.1f}"])  # fmt: skip
    lines += table(["side", "CPU/request (slope)", "CPU/request (mean)",
                    "CPU/stream of 16 (at once)", "CPU/event µs (paced 16 vs 256)",
                    "CPU at rest ms/s"], cpu_rows)  # fmt: skip
    lines += ["", "Latency of 16-token answers and throughput at 16 connections:", ""]
    rows = []
    for side in sides:
        s = summaries[side.name]
        rows.append([
            side.name, ms(s.p50_1), ms(s.p99_1), signed_ms(s.p50_1 - engine.p50_1),
            signed_ms(s.p99_1 - engine.p99_1), ms(s.p50_16), ms(s.p99_16),
            signed_ms(s.p50_16 - engine.p50_16), signed_ms(s.p99_16 - engine.p99_16),
            f"{s.rps_plain:,.0f}", f"{s.rps_streams:,.0f}", str(s.failures),
        ])  # fmt: skip
    lines += table(["side", "p50 1 conn", "p99 1 conn", "added p50", "added p99", "p50 16 conn",
                    "p99 16 conn", "added p50", "added p99", "req/s plain", "req/s streams",
                    "failures"], rows)  # fmt: skip
    if litellm is not None:
        ll = summaries[litellm.name]
        lines += ["", f"Against {litellm.name} on the same load (gateway better by):", ""]
        rows = []
        for side in sides:
            if side.kind != "gateway":
                continue
            s = summaries[side.name]
            rows.append([side.name, ratio(s.rps_plain, ll.rps_plain),
                         ratio(s.rps_streams, ll.rps_streams),
                         ratio(ll.cpu_per_request, s.cpu_per_request),
                         ratio(ll.cpu_per_event, s.cpu_per_event)])  # fmt: skip
        lines += table(["gateway", "req/s plain", "req/s streams", "CPU/request",
                        "CPU/event"], rows)  # fmt: skip
    lines += ["", "Targets (issue 13):", "", *targets(summaries, engine), ""]
    lines += [f"- {note}" for note in notes]
    return lines


def targets(summaries: dict[str, Summary], engine: Summary) -> list[str]:
    """Issue 13's targets, for the sides that ran (``--quick`` runs two gateways)."""
    Check = tuple[str, str, Callable[[Summary], float], float, Callable[[float], str]]
    checks: list[Check] = [
        ("CPU per event, policy none", "full, none", lambda s: s.cpu_per_event, 8e-6, us),
        ("CPU per event, gdpr-default", "full, gdpr-default", lambda s: s.cpu_per_event, 12e-6,
         us),
        ("CPU per request", "full, gdpr-default", lambda s: s.cpu_per_request, 0.5e-3, ms),
        ("CPU per request, embedded store", "quick, none", lambda s: s.cpu_per_request, 0.25e-3,
         ms),
        ("added p50, 1 connection", "full, gdpr-default", lambda s: s.p50_1 - engine.p50_1,
         0.5e-3, ms),
        ("added p99, 1 connection", "full, gdpr-default", lambda s: s.p99_1 - engine.p99_1,
         2e-3, ms),
        ("added p99, 16 connections", "full, gdpr-default", lambda s: s.p99_16 - engine.p99_16,
         10e-3, ms),
    ]  # fmt: skip
    rows = []
    for name, side, value_of, limit, fmt in checks:
        if side in summaries:
            value = value_of(summaries[side])
            rows.append([name, side, fmt(value), fmt(limit), verdict(value, limit)])
    return table(["target", "side", "measured", "limit", "verdict"], rows, left=2)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.lean_overhead",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="shortest phases, one round, without LiteLLM: about a minute",
    )
    parser.add_argument("--rounds", type=int, default=None, help="default 2 (quick: 1)")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    parser.add_argument("--revision", help="run the gateway of this git revision (git archive)")
    parser.add_argument(
        "--baseline",
        help="also run the gateway of this git revision, side by side in the same run "
        '(its sides are named "before: ...")',
    )
    parser.add_argument("--json", type=Path, default=Path("loadtest/results/lean_overhead.json"))
    parser.add_argument("--out", type=Path, default=Path("loadtest/results/lean_overhead.md"))
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 2)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    command = shlex.join(["python", "-m", "loadtest.lean_overhead", *(argv or sys.argv[1:])])
    raise_open_files()
    notes: list[str] = []
    before = load_average()
    sides = run(args, notes)
    summaries = {side.name: summarise(side) for side in sides}
    lines = report(sides, summaries, args, command, notes, (before, load_average()))
    text = "\n".join(lines)
    print(text)
    for path, content in (
        (args.out, text + "\n"),
        (args.json, json_report(sides, summaries, command, notes, args.revision)),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    print(f"\nwritten: {args.out}, {args.json}")
    return 1 if any(s.failures for s in summaries.values()) else 0


def json_report(
    sides: list[Side], summaries: dict[str, Summary], command: str, notes: list[str],
    revision: str | None,
) -> str:  # fmt: skip
    def finite(value: Any) -> Any:
        return None if isinstance(value, float) and not math.isfinite(value) else value

    data: dict[str, Any] = {
        "command": command,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"node": platform.node(), "cores": os.cpu_count(),
                    "python": platform.python_version()},
        "notes": notes,
        "gateway": describe(revision),
        "sides": {
            side.name: {
                "kind": side.kind,
                "summary": {k: finite(v) for k, v in asdict(summaries[side.name]).items()},
                "runs": [{"phase": r.phase, "cpu_s": r.cpu_s, "wall_s": r.wall_s,
                          **asdict(r.wrk)} for r in side.runs],
            }
            for side in sides
        },
    }  # fmt: skip
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
