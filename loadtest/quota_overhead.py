"""What limits and metering cost per request: the gateway before them against the gateway now.

    python -m loadtest.quota_overhead [--baseline 50d4c07] [--concurrency 16] [--requests 2000]

Three gateways in one run, in front of the same simulated engine (b200/llama-3.1-8b), with
phases alternated so the shared machine's noise falls on all of them alike:

- **before**: the gateway at ``--baseline`` (the commit before quotas and metering), checked
  out into a temporary git worktree, in quick mode;
- **redis**: this gateway with the shared store, a tenant with every limit set (requests,
  tokens, concurrency, monthly budget) and a key with limits of its own: tiktoken estimate,
  one Lua admission over two scopes, one Lua metering call appending to the ledger;
- **redis, no limits**: the shared store, a tenant without limits (no admission round
  trip; metering still writes the ledger after the answer is sent);
- **embedded**: this gateway with the in-process store and no limits.

Reports p50/p99 latency (non-streaming) and TTFT (streaming) per gateway, what each adds to
*before*, and gateway CPU per request (the steadier figure on a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis
import yaml

from gateway.auth import hash_key
from gateway.tenancy import store as directory
from loadtest.local import free_port, wait_http
from loadtest.overhead import MODEL, body, cpu_seconds, pct
from loadtest.overhead_client import Sample, run_closed_loop

KEY = "sk-quota-overhead-" + uuid.uuid4().hex
REDIS_URL = "redis://127.0.0.1:6379/8"  # db 0 is the tests' (and their ledger's)
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Side:
    name: str
    url: str
    pid: int
    latency: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    cpu: dict[bool, float] = field(default_factory=lambda: {False: 0.0, True: 0.0})
    requests: dict[bool, int] = field(default_factory=lambda: {False: 0, True: 0})
    failures: int = 0

    def cpu_per_request(self, stream: bool) -> float:
        return self.cpu[stream] / max(self.requests[stream], 1)


@contextlib.contextmanager
def process(argv: list[str], cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield child
    finally:
        child.terminate()
        child.wait(10)


@contextlib.contextmanager
def baseline_tree(revision: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="sg-baseline-"))
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), revision],
        check=True,
        capture_output=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)],
            check=False,
            capture_output=True,
        )


def gateway_config(
    engine: str, port: int, tenant: str, redis_url: str | None, limited: bool = True
) -> dict[str, object]:
    limits = {
        "requests_per_minute": 10**6,
        "tokens_per_minute": 10**9,
        "concurrent": 10_000,
        "monthly_tokens": 10**12,
    }
    key: dict[str, object] = {"id": f"{tenant}-1", "hash": hash_key(KEY)}
    tenant_config: dict[str, object] = {"id": tenant, "api_keys": [key]}
    config: dict[str, object] = {
        "server": {"host": "127.0.0.1", "port": port},
        "pools": [{"name": "local", "jurisdiction": "DE", "site": "local", "gpu": "b200",
                   "engines": [engine], "models": [MODEL]}],
        "tenants": [tenant_config],
    }  # fmt: skip
    if redis_url is not None:
        config["store"] = {"redis_url": redis_url, "jurisdiction": "DE", "operator": "benchmark"}
        # The durable ledger: one schema for every run on this Redis database (a ledger
        # claims the database for itself, gateway/ledger/shipper.py).
        config["metering"] = {
            "ledger_dsn": "postgresql://postgres@127.0.0.1:5432/test",
            "ledger_schema": "bench_quota_ledger",
            "ledger_jurisdiction": "DE",
            "ledger_operator": "benchmark",
        }
        # Every replica sharing Redis needs the same pseudonym-vault key.
        config["security"] = {"pseudonym_key": base64.b64encode(b"q" * 32).decode()}
        if limited:
            key["limits"] = {**limits, "requests_per_minute": 10**6 - 1}
            tenant_config["limits"] = limits
    return config


def cleanup(tenant: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"sg:{{{tenant}}}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.hdel(directory.TENANTS, tenant)
        client.hdel(directory.KEYS, f"{tenant}-1")
        client.incr(directory.VERSION)
    finally:
        client.close()


BodyFor = Callable[[Side, bool, int], dict[str, object]]


def _same_body(side: Side, stream: bool, tokens: int) -> dict[str, object]:
    return body(stream, tokens)


async def measure(
    sides: list[Side], args: argparse.Namespace, body_for: BodyFor = _same_body
) -> None:
    """Phases alternated ``args.rounds`` times over the sides: non-streaming, then streams."""
    per_round = max(args.concurrency, args.requests // args.rounds)
    for _ in range(args.rounds):
        for stream, tokens in ((False, 16), (True, 64)):
            for side in sides:
                before = cpu_seconds(side.pid)
                samples: list[Sample] = await run_closed_loop(
                    side.url, KEY, body_for(side, stream, tokens), args.concurrency, per_round
                )
                side.cpu[stream] += cpu_seconds(side.pid) - before
                side.requests[stream] += len(samples)
                side.failures += sum(not s.ok for s in samples)
                if stream:
                    side.ttft += [s.ttft for s in samples]
                else:
                    side.latency += [s.latency for s in samples]


def table(sides: list[Side], title: str) -> list[str]:
    """The side-by-side table; the first side is the reference the others are compared to."""
    base = sides[0]
    lines = [
        f"{title}, {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} ({os.cpu_count()} "
        f"cores); failures: {sum(s.failures for s in sides)}; latencies and CPU in ms",
        "",
        "| gateway | latency p50 | added p50 | latency p99 | added p99 | TTFT p50 | added p50 "
        "| TTFT p99 | added p99 | CPU/request plain | CPU/request stream |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for side in sides:
        cells = []
        for values, reference in ((side.latency, base.latency), (side.ttft, base.ttft)):
            for q in (0.5, 0.99):
                value, added = pct(values, q), pct(values, q) - pct(reference, q)
                cells += [f"{value * 1e3:.2f}", f"**{added * 1e3:+.2f}**"]
        plain, stream = side.cpu_per_request(False), side.cpu_per_request(True)
        lines.append(
            f"| {side.name} | " + " | ".join(cells) + f" | {plain * 1e3:.3f} | {stream * 1e3:.3f} |"
        )
    return lines


def report(
    sides: list[Side],
    args: argparse.Namespace,
    title: str | None = None,
    against: str = "the gateway before quotas and metering",
) -> list[str]:
    """The table and one line per side: what it adds to the first side (``against``)."""
    base = sides[0]
    title = title or (
        f"Limits and metering overhead, {args.concurrency} concurrent clients, phases "
        f"alternated {args.rounds}x, baseline {args.baseline}"
    )
    lines = [*table(sides, title), ""]
    for side in sides[1:]:
        added_p50 = pct(side.latency, 0.5) - pct(base.latency, 0.5)
        added_ttft = pct(side.ttft, 0.5) - pct(base.ttft, 0.5)
        added_cpu = side.cpu_per_request(False) - base.cpu_per_request(False)
        lines.append(
            f"- {side.name}: **{added_p50 * 1e3:+.2f} ms** p50 latency, "
            f"**{added_ttft * 1e3:+.2f} ms** p50 TTFT, **{added_cpu * 1e3:+.3f} ms** gateway "
            f"CPU per non-streaming request, against {against}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.quota_overhead", description=__doc__)
    parser.add_argument("--baseline", default="50d4c07", help="git revision before quotas")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000, help="per gateway and mode")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("loadtest/results/quota_overhead.md"))
    args = parser.parse_args(argv)
    tenant = "bench-" + uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVEREIGN_")}
    engine_port = free_port()
    engine_argv = [
        sys.executable, "-m", "serving.simulator", "--profile", "b200/llama-3.1-8b",
        "--model", MODEL, "--engines", "1", "--base-port", str(engine_port), "--speed", "1.0",
    ]  # fmt: skip
    engine = f"http://127.0.0.1:{engine_port}"
    with (
        tempfile.TemporaryDirectory() as scratch,
        baseline_tree(args.baseline) as old,
        process(engine_argv, ROOT, env),
    ):
        wait_http(engine + "/health")
        ports = [free_port() for _ in range(4)]
        configs = [
            gateway_config(engine, ports[1], tenant, REDIS_URL),
            gateway_config(engine, ports[2], tenant + "-u", REDIS_URL, limited=False),
            gateway_config(engine, ports[3], tenant, None),
        ]
        paths = []
        for n, config in enumerate(configs):
            path = Path(scratch) / f"gateway-{n}.yaml"
            path.write_text(yaml.safe_dump(config))
            paths.append(path)
        serve = [sys.executable, "-m", "gateway.cli", "serve"]
        old_env = {**env, "PYTHONPATH": str(old)}
        with (
            process([*serve, "--engine", engine, "--api-key", KEY, "--port", str(ports[0])],
                    old, old_env) as before,
            process([*serve, "--config", str(paths[0])], ROOT, env) as on_redis,
            process([*serve, "--config", str(paths[1])], ROOT, env) as unlimited,
            process([*serve, "--config", str(paths[2])], ROOT, env) as embedded,
        ):  # fmt: skip
            try:
                urls = [f"http://127.0.0.1:{port}" for port in ports]
                for url in urls:
                    wait_http(url + "/healthz")
                sides = [
                    Side("before (" + args.baseline + ")", urls[0], before.pid),
                    Side("redis, all limits", urls[1], on_redis.pid),
                    Side("redis, no limits", urls[2], unlimited.pid),
                    Side("embedded, no limits", urls[3], embedded.pid),
                ]
                assert psutil.Process(before.pid).cwd() == str(old)
                asyncio.run(measure(sides, args))
            finally:
                cleanup(tenant)
                cleanup(tenant + "-u")
    text = "\n".join(report(sides, args))
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
