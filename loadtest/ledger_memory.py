"""Redis memory under sustained load with the ledger in PostgreSQL (issue 15, item 2).

    python -m loadtest.ledger_memory --minutes 10 [--marker-ttl 2] [--concurrency 16]
    python -m loadtest.ledger_memory --minutes 2 --baseline /tmp/ledger-base   # the old design

One gateway process (its code from this checkout, or from ``--baseline``, a worktree of an
older commit, e.g. ``git worktree add /tmp/ledger-base HEAD``) with a dedicated
``redis-server`` on a free port (so ``INFO memory`` is the gateway's alone), the durable
ledger in PostgreSQL (127.0.0.1:5432, database ``test``, a schema of the run's own, dropped
at the end) and the simulator engine (100x faster than real time). A closed loop of
``--concurrency`` clients sends short chat completions for ``--minutes``; every 10 s Redis's
``used_memory``, its key count and the hand-off backlog are sampled. Then, once every record
has landed, the ledger's totals (PostgreSQL; the Redis sorted sets for ``--baseline``) are
compared with the simulator's own token counters: they must be equal. Exit status 1 if not.

The exactly-once markers live ``--marker-ttl`` minutes, so memory levels off after that;
the slope after it is what a longer run would keep adding.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
import psycopg
import redis
import yaml
from psycopg import sql

from gateway.auth import hash_key
from loadtest.local import free_port, wait_http

ROOT = Path(__file__).resolve().parents[1]
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
MODEL = "llama-3.1-8b"
TENANT = "ledger-bench"
KEY = "sk-ledger-bench-" + uuid.uuid4().hex
SAMPLE_EVERY = 10.0


@dataclass
class Sample:
    at: float  # seconds since the load started
    requests: int
    used_memory: int
    keys: int
    backlog: int


@dataclass
class Load:
    ok: int = 0
    failed: int = 0
    samples: list[Sample] = field(default_factory=list)


def _env(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVEREIGN_")}
    env["PYTHONPATH"] = str(tree)
    return env


@contextlib.contextmanager
def _process(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[None]:
    with open(log, "wb") as out:
        child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[int]:
    """A redis-server of this run's own on a free port, persisting nothing."""
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(folder)]  # fmt: skip
    with _process(argv, folder, dict(os.environ), folder / "redis.log"):
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        yield port


def gateway_config(
    engine: str, port: int, redis_port: int, folder: Path, schema: str, args: argparse.Namespace
) -> dict[str, Any]:
    limits = {"requests_per_minute": 10**7, "tokens_per_minute": 10**10,
              "concurrent": 10_000, "monthly_tokens": 10**13}  # fmt: skip
    store: dict[str, Any] = {"redis_url": f"redis://127.0.0.1:{redis_port}/0",
                             "jurisdiction": "DE", "operator": "benchmark"}  # fmt: skip
    metering: dict[str, Any] = {"spool_dir": str(folder / "spool")}
    if args.baseline is None:
        store["marker_ttl_minutes"] = args.marker_ttl
        metering.update(ledger_dsn=PG_DSN, ledger_jurisdiction="DE",
                        ledger_operator="benchmark", ledger_schema=schema)  # fmt: skip
    return {
        "server": {"host": "127.0.0.1", "port": port},
        "store": store,
        "metering": metering,
        "security": {"pseudonym_key": base64.b64encode(b"l" * 32).decode()},
        "privacy": {"default_policy": None},
        "telemetry": {"audit_dir": str(folder / "audit")},
        "pools": [{"name": "local", "jurisdiction": "DE", "site": "local", "gpu": "b200",
                   "engines": [engine], "models": [MODEL]}],
        "tenants": [{"id": TENANT, "limits": limits,
                     "api_keys": [{"id": f"{TENANT}-1", "hash": hash_key(KEY)}]}],
    }  # fmt: skip


def engine_counters(engine: str) -> tuple[int, int]:
    """(prompt, generation) tokens the simulator counted."""
    totals = {"vllm:prompt_tokens_total": 0.0, "vllm:generation_tokens_total": 0.0}
    for line in httpx.get(engine + "/metrics", timeout=10).text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name = series.partition("{")[0]
        if name in totals:
            totals[name] += float(value)
    return int(totals["vllm:prompt_tokens_total"]), int(totals["vllm:generation_tokens_total"])


def handoff_backlog(client: redis.Redis) -> int:
    return sum(
        int(client.xlen(key))
        for key in client.scan_iter(match="sg:{*}:handoff", count=1000, _type="stream")
    )


async def _client_loop(url: str, load: Load, stop: float) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Wie spät ist es?"}],
            "max_tokens": 8}  # fmt: skip
    headers = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while time.monotonic() < stop:
            try:
                response = await client.post("/v1/chat/completions", json=body, headers=headers)
                if response.status_code == 200:
                    load.ok += 1
                else:
                    load.failed += 1
            except httpx.HTTPError:
                load.failed += 1


async def _sampler(client: redis.Redis, load: Load, start: float, stop: float) -> None:
    while True:
        info = await asyncio.to_thread(client.info, "memory")
        keys = await asyncio.to_thread(client.dbsize)
        backlog = await asyncio.to_thread(handoff_backlog, client)
        now = time.monotonic()
        sample = Sample(now - start, load.ok, int(info["used_memory"]), int(keys), backlog)
        load.samples.append(sample)
        print(_row(sample), flush=True)
        if now >= stop:
            return
        await asyncio.sleep(min(SAMPLE_EVERY, max(0.0, stop - now)))


async def run_load(url: str, client: redis.Redis, args: argparse.Namespace) -> Load:
    load = Load()
    start = time.monotonic()
    stop = start + args.minutes * 60
    clients = [_client_loop(url, load, stop) for _ in range(args.concurrency)]
    await asyncio.gather(_sampler(client, load, start, stop), *clients)
    return load


def _row(s: Sample) -> str:
    return (
        f"| {s.at:6.0f} | {s.requests:9d} | {s.used_memory / 2**20:9.2f} | {s.keys:7d} "
        f"| {s.backlog:7d} |"
    )


def slope(samples: list[Sample]) -> float:
    """Least-squares bytes per minute."""
    if len(samples) < 2:
        return 0.0
    xs, ys = [s.at / 60 for s in samples], [float(s.used_memory) for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def ledger_totals(client: redis.Redis, schema: str, baseline: bool) -> tuple[int, int, int]:
    """(records, prompt, completion) of the bench tenant: PostgreSQL, or the old Redis set."""
    if baseline:
        members = cast(list[bytes], client.zrange(f"sg:{{{TENANT}}}:ledger", 0, -1))
        records = [orjson.loads(m) for m in members]
        return (len(records), sum(r["prompt_tokens"] for r in records),
                sum(r["completion_tokens"] for r in records))  # fmt: skip
    query = sql.SQL(
        "SELECT count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0)"
        " FROM {} WHERE tenant = %s"
    ).format(sql.Identifier(schema, "usage_ledger"))
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        row = conn.execute(query, (TENANT,)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def wait_landed(
    client: redis.Redis, schema: str, baseline: bool, ok: int, timeout: float = 120.0
) -> tuple[int, int, int]:
    deadline = time.monotonic() + timeout
    while True:
        totals = ledger_totals(client, schema, baseline)
        if totals[0] >= ok or time.monotonic() > deadline:
            return totals
        time.sleep(0.5)


def settled_counters(engine: str) -> tuple[int, int]:
    seen = engine_counters(engine)
    while True:
        time.sleep(1.0)
        now = engine_counters(engine)
        if now == seen:
            return now
        seen = now


def summary(load: Load, args: argparse.Namespace) -> list[str]:
    samples = load.samples
    first, last = samples[0], samples[-1]
    ttl_s = args.marker_ttl * 60
    at_ttl = min(samples, key=lambda s: abs(s.at - ttl_s))
    after = [s for s in samples if s.at >= ttl_s]
    per_request = (last.used_memory - first.used_memory) / max(1, last.requests - first.requests)
    rate = last.requests / max(last.at, 1e-9)
    lines = [
        f"requests {load.ok} ok, {load.failed} failed, {rate:.0f}/s over {last.at:.0f} s",
        f"used_memory: start {first.used_memory / 2**20:.2f} MiB (t={first.at:.0f} s), "
        f"at TTL {at_ttl.used_memory / 2**20:.2f} MiB (t={at_ttl.at:.0f} s), "
        f"end {last.used_memory / 2**20:.2f} MiB (t={last.at:.0f} s)",
        f"growth over the run: {per_request:.1f} bytes per request; slope "
        f"{slope(samples) / 1024:.1f} KiB/min over the run",
    ]
    if args.baseline is None and len(after) >= 2:
        lines.append(
            f"slope after the marker TTL ({args.marker_ttl:g} min): "
            f"{slope(after) / 1024:.1f} KiB/min over {len(after)} samples"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.ledger_memory", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--marker-ttl", type=float, default=2.0, help="minutes")
    parser.add_argument("--baseline", type=Path, default=None, help="an older tree to run")
    args = parser.parse_args(argv)
    tree = args.baseline or ROOT
    schema = "sgl_bench_" + uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="ledger-memory-") as scratch:
        folder = Path(scratch)
        engine_port, port = free_port(), free_port()
        engine = f"http://127.0.0.1:{engine_port}"
        url = f"http://127.0.0.1:{port}"
        engine_argv = [sys.executable, "-m", "serving.simulator", "--profile",
                       "b200/llama-3.1-8b", "--model", MODEL, "--base-port", str(engine_port),
                       "--speed", "0.01"]  # fmt: skip
        with (
            redis_server(folder) as redis_port,
            _process(engine_argv, ROOT, _env(ROOT), folder / "engine.log"),
        ):
            wait_http(engine + "/health")
            config = gateway_config(engine, port, redis_port, folder, schema, args)
            path = folder / "gateway.yaml"
            path.write_text(yaml.safe_dump(config))
            serve = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)]
            client = redis.Redis(port=redis_port)
            try:
                with _process(serve, tree, _env(tree), folder / "gateway.log"):
                    wait_http(url + "/healthz")
                    before = settled_counters(engine)
                    design = f"baseline {args.baseline}" if args.baseline else "PostgreSQL"
                    print(f"# ledger: {design}; {args.minutes:g} min, "
                          f"{args.concurrency} clients, marker TTL {args.marker_ttl:g} min, "
                          f"Redis :{redis_port}")  # fmt: skip
                    print("|    t s |  requests | used MiB |    keys | backlog |")
                    print("| -----: | --------: | -------: | ------: | ------: |")
                    load = asyncio.run(run_load(url, client, args))
                    after = settled_counters(engine)
                    totals = wait_landed(client, schema, args.baseline is not None, load.ok)
                    final = handoff_backlog(client)
            finally:
                client.close()
                if args.baseline is None:
                    with psycopg.connect(PG_DSN, autocommit=True) as conn:
                        drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                        conn.execute(drop.format(sql.Identifier(schema)))
    for line in summary(load, args):
        print(line)
    engine_prompt, engine_generated = after[0] - before[0], after[1] - before[1]
    equal = (totals[1], totals[2]) == (engine_prompt, engine_generated)
    print(
        f"ledger: {totals[0]} records, prompt {totals[1]}, completion {totals[2]}; engine: "
        f"prompt {engine_prompt}, generation {engine_generated}; hand-off left {final}: "
        + ("EQUAL" if equal and totals[0] == load.ok else "NOT EQUAL")
    )
    return 0 if equal and totals[0] == load.ok else 1


if __name__ == "__main__":
    sys.exit(main())
