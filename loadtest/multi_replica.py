"""Gateways side by side against one Redis Cluster (issue 15, item 4): what each added gateway
process serves, and what a request costs the gateways, Redis and PostgreSQL.

    python -m loadtest.multi_replica [--gateways 1,2,4] [--seconds 20] [--rounds 3]
        [--clients 48] [--tenants 12] [--max-tokens 16] [--speed 0.05]

The topology of ``tests/multi_replica``: a Redis Cluster of three primaries, each with a
replica (``tests/redis_topology.py``, so run it from a checkout's root), PostgreSQL (database
``test``, a schema of the run's own, dropped at the end) for the durable usage ledger and the
audit trail (one chain per gateway, anchored), and a pool of two simulated engines
(``python -m serving.simulator``, a process of its own). For each gateway count ``n`` of each
round (the order rotates), ``n`` gateway processes start, ``--clients`` closed-loop clients
(aiohttp on uvloop, in this process) spread over them and over ``--tenants`` tenants (whose
hash slots fall on every primary) send whole chat completions for ``--seconds`` after a
warm-up of ``WARM_UP_S``, and the gateways stop. Every tenant has limits (never reached), so
every request is admitted and metered through Redis.

Measured per run, over the load after its warm-up: requests/s answered 200 (anything else is
an error); the gateways' CPU (user + system, psutil, all ``n`` processes) per request and in
cores; every Redis node's CPU (``INFO cpu``, primaries and replicas) per request, and with
the gateways up but idle, per second (their polls, heartbeats and shippers); PostgreSQL rows
written per usage record (``pg_stat_user_tables`` of the schema: inserted + updated + deleted,
over the records of the run, warm-up included, read before the gateways start and after they
stopped: the ledger's rows, the audit chains' entries and heads, the anchors);
and the cores the simulator and the clients used, to show what else shared the machine. The
table gives each figure's median over the rounds, and the spread of requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psycopg
import redis
import uvloop
import yaml
from psycopg import sql

from gateway.auth import hash_key
from loadtest.lean_procs import NEVER_REFUSE, Proc, Processes, clean_env, raise_open_files
from loadtest.local import free_port, wait_http

MODEL = "llama-3.1-8b"
PROFILE = "b200/llama-3.1-8b"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
VAULT_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
WARM_UP_S = 3.0
IDLE_S = 2.0
DRAIN_S = 3.0  # after the load: the ledger shipper and the audit batches catch up


@dataclass(frozen=True)
class Sample:
    """One run of ``gateways`` gateway processes: what it served and what it cost."""

    gateways: int
    seconds: float
    served: int
    errors: int
    gateway_cpu: float  # seconds, all gateway processes
    redis_cpu: float  # seconds, all Redis nodes
    pg_rows: int | None  # rows written in the run's schema; None: no tables there
    pg_records: int = 0  # usage records in the run's ledger (warm-up included)
    idle_redis_cpu: float = 0.0  # Redis CPU seconds per second, the gateways up, no load
    others_cpu: float = 0.0  # seconds: the simulator and this process (the clients)
    error_kinds: tuple[tuple[str, int], ...] = ()  # ("503 quota_store_unavailable", n), ...

    @property
    def per_s(self) -> float:
        return self.served / self.seconds if self.seconds else 0.0

    def per_request(self, value: float | None) -> float | None:
        return None if value is None or not self.served else value / self.served

    @property
    def rows_per_record(self) -> float | None:
        return (
            None if self.pg_rows is None or not self.pg_records else self.pg_rows / self.pg_records
        )


@dataclass(frozen=True)
class Tenant:
    id: str
    key: str


def tenants_of(count: int) -> list[Tenant]:
    run = uuid.uuid4().hex[:6]
    return [Tenant(f"bench-{run}-{i}", f"sk-bench-{run}-{i}") for i in range(count)]


def gateway_config(
    redis_url: str,
    engines: Sequence[str],
    folder: Path,
    tenants: Sequence[Tenant],
    port: int,
    schema: str,
) -> dict[str, Any]:
    """One gateway: the shared store, ledger, audit trail and engines; a spool of its own."""
    return {
        "server": {"host": "127.0.0.1", "port": port},
        "store": {"redis_url": redis_url, "jurisdiction": "DE", "operator": "benchmark"},
        "security": {"pseudonym_key": VAULT_KEY},
        "privacy": {"default_policy": None},
        "metering": {
            "spool_dir": str(folder / "spool"),
            "ledger_dsn": PG_DSN,
            "ledger_jurisdiction": "DE",
            "ledger_operator": "benchmark",
            "ledger_schema": schema,
        },
        "telemetry": {
            "audit_dir": str(folder / "audit"),
            # One audit chain per gateway in PostgreSQL, anchored together (the defaults).
            "audit": {
                "jurisdiction": "DE",
                "operator": "benchmark",
                "dsn": PG_DSN,
                "schema_name": schema,
            },
        },
        "pools": [
            {
                "name": "de",
                "jurisdiction": "DE",
                "site": "de-1",
                "gpu": "b200",
                "engines": list(engines),
                "models": [MODEL],
            }
        ],
        "tenants": [
            {
                "id": t.id,
                "limits": NEVER_REFUSE,
                "api_keys": [{"id": f"{t.id}-k", "hash": hash_key(t.key)}],
            }
            for t in tenants
        ],
    }


def redis_cpu(info: dict[str, Any]) -> float:
    """CPU seconds of a Redis node, from its ``INFO cpu`` section."""
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def cluster_cpu(ports: Sequence[int]) -> float:
    total = 0.0
    for port in ports:
        client = redis.Redis(port=port, socket_timeout=5)
        try:
            total += redis_cpu(client.info("cpu"))
        except redis.RedisError:
            pass  # a node that died counts no more
        finally:
            client.close()
    return total


def pg_rows(schema: str) -> int | None:
    """Rows inserted, updated and deleted in ``schema`` so far; None while it has no table."""
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)"
            " FROM pg_stat_user_tables WHERE schemaname = %s",
            (schema,),
        ).fetchone()
    assert row is not None
    return int(row[1]) if row[0] else None


def pg_records(schema: str) -> int:
    """Usage records in the ledger of ``schema`` (its table of ids: one row per record)."""
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f"{schema}.ledger_ids",)).fetchone()
        if found is None or found[0] is None:
            return 0
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "ledger_ids"))
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def settled_rows(schema: str, timeout: float = 10.0) -> int | None:
    """``pg_rows`` once it stops moving (PostgreSQL reports table statistics within ~1 s)."""
    last, deadline = pg_rows(schema), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.2)
        now = pg_rows(schema)
        if now == last:
            break
        last = now
    return last


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


_ERROR_CODE = re.compile(rb'"code"\s*:\s*"([^"]{1,64})"')


async def _client(
    url: str, key: str, body: bytes, stop_at: float, warm_until: float, counts: Counter[str]
) -> None:
    """One closed-loop client; after the warm-up, counts ``ok`` and each kind of error (the
    status and the OpenAI error code, or the exception)."""
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        while (now := time.monotonic()) < stop_at:
            try:
                async with session.post(url + "/v1/chat/completions", data=body) as answer:
                    data = await answer.read()
                    if answer.status == 200:
                        kind = "ok"
                    else:
                        code = _ERROR_CODE.search(data)
                        kind = f"{answer.status} {code[1].decode() if code else ''}".strip()
            except (aiohttp.ClientError, TimeoutError) as exc:
                kind = type(exc).__name__
            if now >= warm_until:
                counts[kind] += 1


async def drive(
    urls: Sequence[str],
    tenants: Sequence[Tenant],
    clients: int,
    seconds: float,
    max_tokens: int,
    warm_up: float = WARM_UP_S,
    kinds: Counter[str] | None = None,
) -> tuple[int, int]:
    """``clients`` closed loops over ``urls`` and ``tenants`` (round-robin): served, errors
    counted over ``seconds`` after ``warm_up`` seconds (each kind into ``kinds``, if given)."""
    body = orjson.dumps(
        {
            "model": MODEL,
            "max_tokens": max_tokens,
            "ignore_eos": True,
            "messages": [{"role": "user", "content": "Wie beantrage ich einen Parkausweis?"}],
        }
    )
    counts: Counter[str] = Counter() if kinds is None else kinds
    warm_until = time.monotonic() + warm_up
    stop_at = warm_until + seconds
    pairs = zip(itertools.cycle(urls), itertools.cycle(tenants), strict=False)
    await asyncio.gather(
        *(
            _client(url, t.key, body, stop_at, warm_until, counts)
            for url, t in itertools.islice(pairs, clients)
        )
    )
    return counts["ok"], sum(n for kind, n in counts.items() if kind != "ok")


def start_simulator(procs: Processes, engines: int, speed: float) -> tuple[Proc, list[str]]:
    base = free_port()
    argv = [
        sys.executable,
        "-m",
        "serving.simulator",
        "--profile",
        PROFILE,
        "--model",
        MODEL,
        "--engines",
        str(engines),
        "--base-port",
        str(base),
        "--speed",
        str(speed),
    ]
    urls = [f"http://127.0.0.1:{base + i}" for i in range(engines)]
    simulator = procs.start("simulator", argv, urls[0])
    for url in urls:
        wait_http(url + "/health", timeout=60)
    return simulator, urls


def start_gateways(rig: Rig, count: int, schema: str, tag: str) -> list[Proc]:
    started: list[Proc] = []
    for index in range(count):
        name = f"{tag}-gw{index}"
        folder = rig.procs.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        config = gateway_config(
            rig.redis_url, rig.engines, folder, rig.tenants, free_port(), schema
        )
        path = folder / "gateway.yaml"
        path.write_text(yaml.safe_dump(config))
        argv = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)]
        env = {**clean_env(), "SOVEREIGN_METERING__GATEWAY_ID": name}
        url = f"http://127.0.0.1:{config['server']['port']}"
        started.append(rig.procs.start(name, argv, url, env=env))
    for proc in started:
        deadline = time.monotonic() + 120
        while True:
            proc.check_alive()
            with contextlib.suppress(TimeoutError):
                wait_http(proc.url + "/healthz", timeout=2.0)
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{proc.name} did not start")
    return started


@dataclass(frozen=True)
class Rig:
    """What every run shares: the processes, the cluster's nodes, the engines, the tenants."""

    procs: Processes
    redis_url: str
    redis_ports: Sequence[int]
    simulator: Proc
    engines: Sequence[str]
    tenants: Sequence[Tenant]
    # One schema for the whole run: a Redis hands its records off to one ledger only.
    schema: str
    args: argparse.Namespace


@dataclass(frozen=True)
class Reading:
    at: float  # monotonic seconds
    gateway_cpu: float
    redis_cpu: float
    others_cpu: float  # the simulator and this process


def reading(rig: Rig, gateways: Sequence[Proc]) -> Reading:
    others = rig.simulator.cpu() + time.process_time()
    gateway = sum(g.cpu() for g in gateways)
    return Reading(time.monotonic(), gateway, cluster_cpu(rig.redis_ports), others)


async def measure(
    rig: Rig, urls: Sequence[str], read: Callable[[], Reading]
) -> tuple[Counter[str], Reading, Reading]:
    """The load, with readings taken as its warm-up ends and as it stops (off the loop)."""
    readings: list[Reading] = []

    async def at_warm_up_end() -> None:
        await asyncio.sleep(WARM_UP_S)
        readings.append(await asyncio.to_thread(read))

    first = asyncio.create_task(at_warm_up_end())
    args = rig.args
    kinds: Counter[str] = Counter()
    await drive(urls, rig.tenants, args.clients, args.seconds, args.max_tokens, kinds=kinds)
    last = await asyncio.to_thread(read)
    await first
    return kinds, readings[0], last


def run_one(rig: Rig, count: int, tag: str) -> Sample:
    """``count`` gateways, measured under load, stopped. The PostgreSQL figures are the
    run's whole share (warm-up included), read before the gateways start and after they
    stopped: a closing backend reports its table statistics at once, a busy one late."""
    rows_before, records_before = settled_rows(rig.schema), pg_records(rig.schema)
    gateways = start_gateways(rig, count, rig.schema, tag)
    try:

        def read() -> Reading:
            return reading(rig, gateways)

        idle = read()
        time.sleep(IDLE_S)  # the gateways' background work alone: polls, heartbeats
        before = read()
        urls = [g.url for g in gateways]
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            kinds, start, stop = runner.run(measure(rig, urls, read))
        time.sleep(DRAIN_S)  # the ledger's shippers catch up
    finally:
        for gateway in gateways:
            rig.procs.stop(gateway)
    rows_after = settled_rows(rig.schema)
    rows = None if rows_after is None else rows_after - (rows_before or 0)
    records = pg_records(rig.schema) - records_before
    errors = tuple(sorted((kind, n) for kind, n in kinds.items() if kind != "ok"))
    return Sample(
        count,
        stop.at - start.at,
        kinds["ok"],
        sum(n for _, n in errors),
        stop.gateway_cpu - start.gateway_cpu,
        stop.redis_cpu - start.redis_cpu,
        rows,
        records,
        idle_redis_cpu=(before.redis_cpu - idle.redis_cpu) / (before.at - idle.at),
        others_cpu=stop.others_cpu - start.others_cpu,
        error_kinds=errors,
    )


def _fmt(value: float | None, scale: float = 1.0, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value * scale:,.{digits}f}"


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def table(samples: Sequence[Sample]) -> list[str]:
    """One row per gateway count: medians over the rounds."""
    lines = [
        "| gateways | requests/s (min-max) | gateway CPU ms/request | gateway cores busy "
        "| Redis CPU µs/request | Redis CPU idle, ms/s | PG rows/record "
        "| simulator + clients, cores busy | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count in sorted({s.gateways for s in samples}):
        runs = [s for s in samples if s.gateways == count]
        rates = [s.per_s for s in runs]
        gateway = _median([s.per_request(s.gateway_cpu) for s in runs])
        busy = _median([s.gateway_cpu / s.seconds if s.seconds else None for s in runs])
        redis_us = _median([s.per_request(s.redis_cpu) for s in runs])
        idle = _median([s.idle_redis_cpu for s in runs])
        rows = _median([s.rows_per_record for s in runs])
        others = _median([s.others_cpu / s.seconds if s.seconds else None for s in runs])
        lines.append(
            f"| {count} | {statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) "
            f"| {_fmt(gateway, 1000, 2)} | {_fmt(busy, 1, 2)} | {_fmt(redis_us, 1e6)} "
            f"| {_fmt(idle, 1000, 1)} | {_fmt(rows, 1, 2)} | {_fmt(others, 1, 2)} "
            f"| {sum(s.errors for s in runs)} |"
        )
    return lines


def order(counts: Sequence[int], rounds: int) -> list[list[int]]:
    """Each round's order of gateway counts, rotated so none always runs first."""
    return [
        list(counts[r % len(counts) :]) + list(counts[: r % len(counts)]) for r in range(rounds)
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.multi_replica",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--gateways", default="1,2,4", type=lambda text: [int(n) for n in text.split(",")]
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=48)
    parser.add_argument("--tenants", type=int, default=12)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--speed", type=float, default=0.05, help="the simulator's time scale")
    parser.add_argument("--engines", type=int, default=2)
    args = parser.parse_args(argv)
    if min(args.gateways) < 1:
        parser.error("--gateways: counts of at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_files()
    # The cluster fixture the tests use (tests/ is on the path from a checkout's root).
    from tests.redis_topology import redis_cluster

    samples: list[Sample] = []
    with (
        tempfile.TemporaryDirectory(prefix="sg-multi-") as tmp,
        redis_cluster(Path(tmp) / "redis", 3, 1) as cluster,
        pg_schema() as schema,
        Processes(Path(tmp)) as procs,
    ):
        simulator, engines = start_simulator(procs, args.engines, args.speed)
        ports = [node.port for node in cluster.nodes]
        tenants = tenants_of(args.tenants)
        rig = Rig(procs, cluster.url, ports, simulator, engines, tenants, schema, args)
        for round_number, counts in enumerate(order(args.gateways, args.rounds)):
            for count in counts:
                sample = run_one(rig, count, f"r{round_number}n{count}")
                samples.append(sample)
                print(
                    f"round {round_number + 1}: {count} gateway(s): {sample.per_s:,.0f} "
                    f"requests/s, {sample.errors} errors {dict(sample.error_kinds) or ''}",
                    file=sys.stderr,
                    flush=True,
                )
    print(f"# {platform.node()}: {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"# {' '.join(['python -m loadtest.multi_replica', *(argv or sys.argv[1:])])}")
    print("\n".join(table(samples)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
