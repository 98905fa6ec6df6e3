"""Thousands of concurrent streams through one gateway worker (issue 13).

    python -m loadtest.mass_streams [--quick] [--streams 500,1000,2000,3000,4000]
        [--events 300] [--rate 30] [--spread 2] [--engines 2] [--clients 1] [--json PATH]

For each N: N streams opened evenly over ``--spread`` seconds, each ``--events`` tokens at
``--rate`` tokens/s (the paced model of ``loadtest.lean_engine``, in ``--engines`` processes),
first straight at the engines ("direct"), then through one gateway worker with the full
pipeline (the shared store on the local Redis with all four limits set, never reached;
gdpr-default; audit trail in a file; JSON logs to a file; Prometheus metrics). The client is
``loadtest.mass_client`` in ``--clients`` processes of its own (raw asyncio on uvloop, one
connection per stream), so its work is not in the gateway's figures.

Reported per N and side: TTFT p50/p99 (from when each stream was due), the inter-token gap
p50/p99/max as the client sees it (waits between reads that brought events), errors; for the
gateway: CPU per relayed event (its CPU time over the phase / events the client received),
the most streams it had open at once (the engines' running count), the cores it used then,
and RSS per open stream (median RSS then, less the RSS at rest after warm-up, over the
streams open). N grows through the list; the
sizes the targets name (up to 2,000) always run, larger ones only while the worker kept up
(below 90 % of a core, under 1 % errors, at least 90 % of N open at once).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from loadtest import mass_client
from loadtest.lean_engine import MODEL, PACED_SUFFIX
from loadtest.lean_procs import (
    ROOT,
    Pipeline,
    Proc,
    Processes,
    chat_body,
    describe,
    full_pipeline_config,
    gateway_tree,
    new_key,
    raise_open_files,
    redis_tenant,
    start_config_gateway,
    start_engine,
    wait_ready,
    wait_serving,
)
from loadtest.lean_stats import gap_summary, ms, table, verdict

PACED = MODEL + PACED_SUFFIX
TARGET_SIZES = 2000  # sizes up to this always run: issue 13's targets name 1,000 and 2,000
SATURATED_BUSY = 0.9  # cores
SATURATED_ERRORS = 0.01


@dataclass
class Side:
    streams: int
    side: str  # direct | gateway
    ok: int = 0
    events: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # gap_summary, seconds
    client_cpu_s: float = 0.0
    client_lag_max_s: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = math.nan  # the gateway's (or the engines', direct) over the phase
    busy_cores: float = math.nan  # while the most streams were open
    rss_per_stream: float = math.nan  # bytes (gateway only)
    most_open: int = 0  # streams the gateway had open at once (the engines' count)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def cpu_per_event(self) -> float:
        return self.cpu_s / self.events if self.events else math.nan

    @property
    def client_cpu_per_event(self) -> float:
        return self.client_cpu_s / self.events if self.events else math.nan

    @property
    def kept_up(self) -> bool:
        """No stream failed, and at some moment (nearly) all N were open at once."""
        return self.error_count == 0 and self.most_open >= 0.9 * self.streams

    @property
    def saturated(self) -> bool:
        errors = self.error_count > SATURATED_ERRORS * max(1, self.streams)
        behind = self.most_open < 0.9 * self.streams
        return self.busy_cores >= SATURATED_BUSY or errors or behind


@dataclass(frozen=True)
class Plan:
    sizes: list[int]
    events: int
    rate: float
    spread: float
    clients: int

    @property
    def duration(self) -> float:
        """How long one stream lasts at the engine's pace."""
        return self.events / self.rate

    def deadline(self) -> float:
        return self.spread + 4 * self.duration + 20


@dataclass
class Sample:
    at: float
    cpu: float
    rss: int
    open: int = 0  # streams the engines were serving (through the gateway: its open streams)


def plateau_figures(samples: list[Sample]) -> tuple[float, float, int]:
    """(cores used, median RSS, streams open) while the most streams were open: over the
    samples with at least 90 % of the most seen. Streams a saturated gateway has not opened
    yet are not in it, so the RSS is per stream really open. NaN when too few samples."""
    most = max((s.open for s in samples), default=0)
    inside = [s for s in samples if most and s.open >= 0.9 * most]
    if len(inside) < 2:
        return math.nan, math.nan, most
    cores = (inside[-1].cpu - inside[0].cpu) / (inside[-1].at - inside[0].at)
    return (
        cores,
        statistics.median(s.rss for s in inside),
        round(statistics.median(s.open for s in inside)),
    )


def run_phase(
    plan: Plan, n: int, side: str, ports: list[int], key: str | None, measured: list[Proc],
    engines: list[Proc], folder: Path,
) -> tuple[Side, list[Sample]]:  # fmt: skip
    """N streams through ``ports``; ``measured``' CPU and RSS, and the streams the
    ``engines`` serve, sampled every 0.25 s."""
    body = orjson.dumps(chat_body(PACED, plan.events, True))
    request = mass_client.request_bytes("127.0.0.1", ports[0], "/v1/chat/completions", body, key)
    clients = []
    for index in range(plan.clients):
        out = folder / f"{side}-{n}-{index}"
        spec = {"host": "127.0.0.1", "ports": ports, "request": request.decode("latin-1"),
                "total": n, "offset": index, "processes": plan.clients, "spread": plan.spread,
                "deadline": plan.deadline(), "out": str(out)}  # fmt: skip
        child = subprocess.Popen(
            [sys.executable, "-m", "loadtest.mass_client", orjson.dumps(spec).decode()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True,
        )  # fmt: skip
        clients.append((child, out))
    for child, _ in clients:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("a client process did not start")
    start = time.time() + 0.2
    for child, _ in clients:
        assert child.stdin is not None
        child.stdin.write(f"{start}\n")
        child.stdin.close()
    samples: list[Sample] = []
    while any(child.poll() is None for child, _ in clients):
        samples.append(Sample(time.time() - start, *_usage(measured), running(engines)))
        time.sleep(0.25)
        if time.time() - start > plan.deadline() + 30:
            for child, _ in clients:
                child.kill()
            raise RuntimeError(f"the clients of {side} N={n} did not end")
    result = Side(n, side, wall_s=time.time() - start)
    samples.append(Sample(result.wall_s, *_usage(measured)))
    ttfts, gaps = array("d"), array("d")
    for _, out in clients:
        summary, client_ttfts, client_gaps = mass_client.read(out)
        result.ok += summary["ok"]
        result.events += summary["events"]
        for error, count in summary["errors"].items():
            result.errors[error] = result.errors.get(error, 0) + count
        result.client_cpu_s += summary["cpu_s"]
        result.client_lag_max_s = max(result.client_lag_max_s, summary["connect_lag_max"])
        ttfts.extend(client_ttfts)
        gaps.extend(client_gaps)
    result.timings = gap_summary(ttfts, gaps)
    result.cpu_s = samples[-1].cpu - samples[0].cpu
    return result, samples


def _usage(procs: list[Proc]) -> tuple[float, int]:
    cpu, rss = 0.0, 0
    for proc in procs:
        with contextlib.suppress(Exception):  # a process between two states: skip a sample
            cpu += proc.cpu()
            rss += proc.rss()
    return cpu, rss


def running(engines: list[Proc]) -> int:
    """Streams the engines are serving now (their ``vllm:num_requests_running``)."""
    total = 0.0
    for engine in engines:
        with contextlib.suppress(httpx.HTTPError):
            for line in httpx.get(engine.url + "/metrics", timeout=5).text.splitlines():
                if line.startswith("vllm:num_requests_running"):
                    total += float(line.rsplit(" ", 1)[1])
    return round(total)


def wait_drained(engines: list[Proc], timeout: float = 120.0) -> None:
    """Until no engine has a stream running (a saturated gateway relays a backlog)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running(engines) == 0:
            time.sleep(1.0)
            return
        time.sleep(0.5)


def run(args: argparse.Namespace, plan: Plan) -> tuple[list[Side], dict[str, Any]]:
    results: list[Side] = []
    info: dict[str, Any] = {}
    # The tenant outlives the processes: its Redis keys go once no gateway writes them.
    with redis_tenant("mass") as tenant, gateway_tree(args.revision) as tree, \
            tempfile.TemporaryDirectory(prefix="sg-mass-") as scratch, \
            Processes(Path(scratch)) as procs:  # fmt: skip
        folder = Path(scratch)
        engines = [start_engine(procs, f"engine-{i}", 1000.0 / plan.rate)
                   for i in range(args.engines)]  # fmt: skip
        for engine in engines:
            wait_ready(engine, "/health", timeout=30)
        ports = [_port(e.url) for e in engines]
        key = new_key()
        pipeline = Pipeline(tenant, key, "gdpr-default", max_connections=2 * max(plan.sizes) + 256)
        config = full_pipeline_config([e.url for e in engines], [MODEL, PACED], folder / "gw",
                                      pipeline)  # fmt: skip
        gateway = start_config_gateway(procs, "gateway", config, tree)
        wait_ready(gateway, "/healthz")
        wait_serving(gateway, key, PACED)
        warm = Plan([50], min(plan.events, 30), plan.rate, 0.5, 1)
        run_phase(warm, 50, "warm-up", [_port(gateway.url)], key, [gateway], engines, folder)
        wait_drained(engines)
        time.sleep(2.0)
        idle_rss = statistics.median(gateway.rss() for _ in range(5))
        info["gateway_idle_rss"] = idle_rss
        for n in plan.sizes:
            direct, _ = run_phase(plan, n, "direct", ports, None, engines, engines, folder)
            wait_drained(engines)
            through, samples = run_phase(plan, n, "gateway", [_port(gateway.url)], key,
                                         [gateway], engines, folder)  # fmt: skip
            gateway.check_alive()
            through.busy_cores, rss, through.most_open = plateau_figures(samples)
            through.rss_per_stream = (rss - idle_rss) / max(through.most_open, 1)
            wait_drained(engines)
            results += [direct, through]
            print(f"N={n}: gateway TTFT p99 {ms(through.timings['ttft_p99'], 0)} ms, "
                  f"{through.busy_cores:.2f} cores, errors {through.error_count}",
                  file=sys.stderr, flush=True)  # fmt: skip
            if n >= TARGET_SIZES and through.saturated:
                break
    return results, info


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def report(
    results: list[Side], plan: Plan, command: str, load: tuple[str, str], gateway: str
) -> list[str]:
    lines = [
        f"Mass streams (issue 13): `{command}`",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}); load average {load[0]} before, {load[1]} after. "
        f"Streams of {plan.events} tokens at {plan.rate:g} tokens/s opened over "
        f"{plan.spread:g} s; one gateway worker ({gateway}), full pipeline, gdpr-default; "
        f"{plan.clients} client process(es). Times in ms.",
        "",
    ]
    pairs = [(d, g) for d, g in zip(results[::2], results[1::2], strict=True)]
    rows = []
    for direct, through in pairs:
        d, g = direct.timings, through.timings
        rows.append([
            f"{direct.streams:,}", f"{ms(d['ttft_p50'], 0)} / {ms(d['ttft_p99'], 0)}",
            f"{ms(g['ttft_p50'], 0)} / {ms(g['ttft_p99'], 0)}",
            f"{ms(d['gap_p99'], 1)} / {ms(g['gap_p99'], 1)}",
            f"{ms(d['gap_max'], 0)} / {ms(g['gap_max'], 0)}",
            f"{through.cpu_per_event * 1e6:.1f}", f"{through.most_open:,}",
            f"{through.busy_cores:.2f}",
            f"{through.rss_per_stream / 1024:,.1f}",
            f"{direct.error_count} / {through.error_count}",
            f"{direct.cpu_per_event * 1e6:.1f} + {direct.client_cpu_per_event * 1e6:.1f}",
        ])  # fmt: skip
    lines += table(["streams", "TTFT p50/p99 direct", "TTFT p50/p99 gateway",
                    "gap p99 direct/gateway", "gap max direct/gateway", "gateway CPU/event µs",
                    "open at once (gateway)", "gateway cores (then)", "RSS/stream KiB",
                    "errors direct/gateway", "harness CPU/event µs (engines + client)"],
                   rows)  # fmt: skip
    lines += ["", "Targets (issue 13):", ""]
    checks = []
    for direct, through in pairs:
        if direct.streams == 1000:
            added = through.timings["ttft_p99"] - direct.timings["ttft_p99"]
            checks.append(["TTFT p99 within 100 ms of the engine's", "1,000", ms(added, 0),
                           "100", kept_up(through, verdict(added, 0.1))])  # fmt: skip
        if direct.streams == 2000:
            added = through.timings["gap_p99"] - direct.timings["gap_p99"]
            checks.append(["gap p99 within 5 ms of the engine's", "2,000", ms(added, 1), "5",
                           kept_up(through, verdict(added, 0.005))])  # fmt: skip
    lines += table(["target", "streams", "gateway minus direct", "limit", "verdict"], checks,
                   left=2)  # fmt: skip
    errors = {f"{r.side} {r.streams}": r.errors for r in results if r.errors}
    lines += ["", f"- errors by kind: {errors or 'none'}"]
    lags = ", ".join(f"{r.side} {r.streams}: {r.client_lag_max_s * 1e3:.0f}" for r in results)
    lines.append(f"- client's worst lag opening a stream (ms): {lags}")
    lines.append(
        "- the harness (engines and client, measured in the direct phase) pays a socket write "
        "or read per event on each side; at N streams it needs N x rate x that CPU, on the "
        "same cores as the gateway"
    )
    return lines


def kept_up(through: Side, verdict_: str) -> str:
    """A verdict counts only if the gateway served every stream and had (nearly) all open at
    once: a gateway that fell behind shows its streams' gaps only once they started."""
    if through.kept_up:
        return verdict_
    return (f"**missed** ({through.error_count} failed, at most {through.most_open:,} of "
            f"{through.streams:,} open)")  # fmt: skip


def parse_sizes(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError("give stream counts like 500,1000,2000")
    return sorted(sizes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.mass_streams",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true",
                        help="N=200,500, 90 tokens opened over 1 s: about a minute")  # fmt: skip
    parser.add_argument("--streams", type=parse_sizes, default=None,
                        help="default 500,1000,2000,3000,4000")  # fmt: skip
    parser.add_argument("--events", type=int, default=None, help="tokens a stream (300)")
    parser.add_argument("--rate", type=float, default=30.0, help="tokens/s of every stream")
    parser.add_argument("--spread", type=float, default=None, help="seconds to open them (2)")
    parser.add_argument("--engines", type=int, default=2, help="engine processes")
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--revision", help="run the gateway of this git revision (git archive)")
    parser.add_argument("--json", type=Path, default=Path("loadtest/results/mass_streams.json"))
    parser.add_argument("--out", type=Path, default=Path("loadtest/results/mass_streams.md"))
    args = parser.parse_args(argv)
    sizes = args.streams or ([200, 500] if args.quick else [500, 1000, 2000, 3000, 4000])
    events = args.events or (90 if args.quick else 300)
    spread = args.spread or (1.0 if args.quick else 2.0)
    plan = Plan(sizes, events, args.rate, spread, args.clients)
    command = shlex.join(["python", "-m", "loadtest.mass_streams", *(argv or sys.argv[1:])])
    raise_open_files()
    before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results, info = run(args, plan)
    after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = "\n".join(report(results, plan, command, (before, after), describe(args.revision)))
    print(text)
    data = {
        "command": command,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"node": platform.node(), "cores": os.cpu_count()},
        "plan": asdict(plan),
        "gateway": describe(args.revision),
        **info,
        "results": [{**asdict(r), "cpu_per_event": r.cpu_per_event, "saturated": r.saturated}
                    for r in results],
    }  # fmt: skip
    for path, content in ((args.out, text + "\n"), (args.json, _json(data))):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    print(f"\nwritten: {args.out}, {args.json}")
    return 0


def _json(data: dict[str, Any]) -> str:
    def finite(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [finite(v) for v in value]
        return value

    return orjson.dumps(finite(data), option=orjson.OPT_INDENT_2).decode() + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
