"""The shared state's scale table (issue 15, item 5): what one request costs Redis and
PostgreSQL, measured, one shard's ceiling, and from them, on paper, the planner's scenario of
10,000 B200 GPUs.

    python -m loadtest.scale [--requests 20000] [--clients 2] [--concurrency 32] [--rounds 2]

Measured against a Redis of its own (``redis-server`` on a free port, nothing else on it, so
its ``INFO`` is ours alone) and PostgreSQL (database ``test``, a schema of its own, dropped at
the end), with the gateway's own code:

1. **Admission and metering**: ``--clients`` processes, each with ``--concurrency`` asyncio
   tasks, run ``RedisQuotaStore.admit`` (a tenant and a key scope, every limit set, never
   refusing) then ``RedisQuotaStore.meter`` (``meter.lua``: settle, marker, XADD to the
   tenant's hand-off stream) for ``--requests`` requests over eight tenants. No shipper runs:
   the records wait in the streams.
2. **Shipping**: the replica's ``Shipper`` then moves every record to the ``PostgresLedger``
   (XREADGROUP, insert, XACK + XDEL), alone on the machine: records/s, PostgreSQL's CPU per
   record (every ``postgres`` process, psutil) and Redis's.

Per request: Redis CPU (``used_cpu_user + used_cpu_sys`` of the server, both phases), the
commands Redis ran (``INFO commandstats``, commands run inside scripts included) and the
round trips the gateway made (EVALSHA, XREADGROUP, XACK, XDEL...), PostgreSQL rows written.
A Redis shard runs its commands on one thread, so its ceiling is one core divided by its CPU
per request; the clients here share two cores with it, so the ceiling is computed, not
reached, and the table says how busy Redis was.

The paper part (``plan``) is pure and its every input is named: the planner's B200 profiles
and citizen-chat workload (``loadtest.eu_claim``), the gateway's CPU per request and per
streamed event (BENCHMARKS.md, "Issue 14 complete": full pipeline, GDPR default policy), the
audit append rate (``loadtest.audit_append``), and the head-room kept on every shard.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis
import uvloop
from psycopg import sql

from gateway.ledger.postgres import PostgresLedger
from gateway.ledger.shipper import Shipper
from gateway.quota.redis_store import RedisQuotaStore
from gateway.quota.resp import ScriptRunner
from loadtest.eu_claim import GPUS, SLO, readings
from loadtest.ledger_memory import redis_server
from loadtest.planner import users_for_gpus
from loadtest.redis_clients import (
    ESTIMATE,
    Target,
    load_scripts,
    requests_for,
    scopes_of,
    usage_record,
)
from serving.perfmodel import get

HOST = "127.0.0.1"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
TIMEOUT_S = 5.0
# Commands that are a round trip from the gateway to Redis (the rest run inside scripts).
ROUND_TRIPS = ("evalsha", "eval", "xreadgroup", "xack", "xdel", "xautoclaim", "xgroup|create")

# --- inputs of the paper part, each from a named source ---
# Gateway CPU per whole request and per streamed event, full pipeline with the GDPR default
# policy, one worker (BENCHMARKS.md, "Issue 14 complete": e2f57a0, 1.15-1.19 ms, 33-43 µs).
GATEWAY_MS_PER_REQUEST = 1.2
GATEWAY_US_PER_EVENT = 43.0
# One streamed event per output token (vLLM's default stream granularity).
EVENTS_PER_OUTPUT_TOKEN = 1.0
# Every shard, database and gateway is sized to run at half its measured ceiling: room for a
# failover (a replica promoted takes its primary's slots), skew between tenants and bursts.
HEADROOM = 0.5


@dataclass(frozen=True)
class Measured:
    """What one request costs the shared state, as measured by ``measure``."""

    requests: int
    redis_cpu_us: float  # Redis CPU per request: admission, metering and shipping
    redis_busy: float  # Redis CPU / wall time during admission and metering
    redis_commands: Mapping[str, float]  # per request, every command Redis ran
    round_trips: float  # per request, calls from the gateway to Redis
    pg_rows: float  # rows written per usage record
    pg_cpu_us: float  # PostgreSQL CPU per usage record shipped
    ship_per_s: float  # records/s one shipper moved to PostgreSQL
    audit_per_s: float  # audit records/s one PostgreSQL took (loadtest.audit_append)

    @property
    def shard_ceiling(self) -> float:
        """Requests/s one Redis shard (one core) can admit, meter and hand off."""
        return 1e6 / self.redis_cpu_us

    @property
    def pg_ledger_ceiling(self) -> float:
        """Usage records/s one PostgreSQL core can store."""
        return 1e6 / self.pg_cpu_us


@dataclass(frozen=True)
class Scenario:
    name: str
    requests_per_s: float
    output_tokens_per_s: float
    streams: float  # concurrent streams (requests in flight)


@dataclass(frozen=True)
class Sizing:
    scenario: Scenario
    redis_shards: int
    redis_nodes: int  # primaries and one replica each
    gateway_cores: int
    gateway_replicas: int  # of ``cores_per_replica`` cores each
    pg_ledger_cores: int
    pg_audit_instances: int


def scenarios(gpus: int = GPUS) -> list[Scenario]:
    """The planner's 10,000-B200 readings: each model and reading of "at once"."""
    rows = []
    for key in ("b200/llama-3.3-70b", "b200/llama-3.1-8b"):
        perf = get(key)
        for work in readings():
            plan = users_for_gpus(perf, work, SLO, gpus)
            point = plan.at_capacity
            if point is None:
                continue
            rows.append(
                Scenario(
                    name=f"{key.split('/')[1]}, {work.name}",
                    requests_per_s=point.requests_per_s * plan.engines,
                    output_tokens_per_s=point.output_tokens_per_s * plan.engines,
                    streams=point.batch * plan.engines,
                )
            )
    return rows


def size(scenario: Scenario, measured: Measured, cores_per_replica: int = 16) -> Sizing:
    """Shards, replicas and cores for ``scenario`` at ``HEADROOM`` of each measured ceiling."""
    rps = scenario.requests_per_s
    shards = math.ceil(rps / (measured.shard_ceiling * HEADROOM))
    events_per_s = scenario.output_tokens_per_s * EVENTS_PER_OUTPUT_TOKEN
    gateway_s = rps * GATEWAY_MS_PER_REQUEST / 1000 + events_per_s * GATEWAY_US_PER_EVENT / 1e6
    cores = math.ceil(gateway_s / HEADROOM)
    return Sizing(
        scenario=scenario,
        redis_shards=shards,
        redis_nodes=2 * shards,
        gateway_cores=cores,
        gateway_replicas=math.ceil(cores / cores_per_replica),
        pg_ledger_cores=math.ceil(rps / (measured.pg_ledger_ceiling * HEADROOM)),
        pg_audit_instances=math.ceil(rps / (measured.audit_per_s * HEADROOM)),
    )


# --- measuring ---


@contextmanager
def pg_schema() -> Iterator[str]:
    name = f"scale_{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def redis_cpu(client: redis.Redis) -> float:
    info: Any = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def command_calls(client: redis.Redis) -> dict[str, int]:
    stats: Any = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of every PostgreSQL process now, by pid (a backend per connection)."""
    found = {}
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("postgres", "postmaster"):
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            found[proc.pid] = times.user + times.system
    return found


def cpu_since(before: Mapping[int, float]) -> float:
    """PostgreSQL CPU since ``before``: a backend that started since counts in full."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in postgres_cpu().items())


async def _drive(port: int, count: int, concurrency: int, run: str) -> None:
    runner = ScriptRunner(HOST, port, timeout=TIMEOUT_S, connect_timeout=TIMEOUT_S)
    client = redis.asyncio.Redis(host=HOST, port=port)
    store = RedisQuotaStore(client, runner=runner, gateway=run, handoff_max=10**9)
    pending = iter(requests_for(run, count))

    async def worker() -> None:
        for tenant, request_id in pending:
            scopes = scopes_of(tenant)
            decision = await store.admit(scopes, ESTIMATE, request_id, key_id="k1")
            assert decision.allowed, decision
            await store.meter(usage_record(tenant, request_id, time.time()), scopes)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    runner.close()
    await client.aclose()


def drive(port: int, count: int, concurrency: int, run: str) -> None:
    """One client process's share of phase 1 (``--drive``)."""
    uvloop.run(_drive(port, count, concurrency, run))


async def ship_all(port: int, schema: str, expected: int) -> tuple[float, int, float]:
    """Phase 2: ship every record; (seconds, records stored, PostgreSQL CPU seconds), the
    CPU read before the ledger's connection closes (its backend exits with it)."""
    client = redis.asyncio.Redis(host=HOST, port=port, socket_timeout=TIMEOUT_S)
    ledger = PostgresLedger(PG_DSN, schema)
    await ledger.start()
    shipper = Shipper(client, ledger, "scale", batch=500)
    stored = 0
    pg_before = postgres_cpu()
    start = time.perf_counter()
    try:
        while stored < expected:
            done = await shipper.ship_once()
            stored += done
            if not done:
                await asyncio.sleep(0.01)
        return time.perf_counter() - start, stored, cpu_since(pg_before)
    finally:
        await ledger.close()
        await client.aclose()


def pg_rows(schema: str) -> int:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables "
            "WHERE schemaname = %s",
            (schema,),
        ).fetchone()
    return int(row[0]) if row else 0


def measure(requests: int, clients: int, concurrency: int, audit_per_s: float) -> Measured:
    with (
        tempfile.TemporaryDirectory() as folder,
        redis_server(Path(folder)) as port,
        pg_schema() as schema,
    ):
        client = redis.Redis(host=HOST, port=port)
        share = requests // clients
        total = share * clients
        run = uuid.uuid4().hex[:8]
        load_scripts(Target("single", (port,)))  # as a gateway finds them: no NOSCRIPT counted
        cpu0, calls0, wall0 = redis_cpu(client), command_calls(client), time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "loadtest.scale",
                    "--drive",
                    str(port),
                    str(share),
                    str(concurrency),
                    f"{run}{i}",
                ],
                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
            )
            for i in range(clients)
        ]
        for proc in procs:
            if proc.wait() != 0:
                raise RuntimeError("a client process failed")
        wall = time.perf_counter() - wall0
        cpu1 = redis_cpu(client)
        seconds, stored, pg_cpu = uvloop.run(ship_all(port, schema, total))
        cpu2, calls2 = redis_cpu(client), command_calls(client)
        if stored != total:
            raise RuntimeError(f"{stored} records stored of {total}")
        commands = {
            name: (calls2[name] - calls0.get(name, 0)) / total
            for name in calls2
            if calls2[name] - calls0.get(name, 0) > 0 and name not in ("info", "ping")
        }
        return Measured(
            requests=total,
            redis_cpu_us=(cpu2 - cpu0) / total * 1e6,
            redis_busy=(cpu1 - cpu0) / wall,
            redis_commands=commands,
            round_trips=sum(v for k, v in commands.items() if k in ROUND_TRIPS),
            pg_rows=pg_rows(schema) / total,
            pg_cpu_us=pg_cpu / total * 1e6,
            ship_per_s=total / seconds,
            audit_per_s=audit_per_s,
        )


# --- the report ---


def measured_table(rounds: Sequence[Measured]) -> list[str]:
    lines = [
        "| round | requests | Redis CPU/request | Redis busy (phase 1) | Redis commands/request "
        "| round trips/request | shard ceiling (req/s per core) | PostgreSQL rows/record "
        "| PostgreSQL CPU/record | shipped records/s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for i, m in enumerate(rounds, 1):
        lines.append(
            f"| {i} | {m.requests:,} | {m.redis_cpu_us:.1f} µs | {m.redis_busy:.0%} "
            f"| {sum(m.redis_commands.values()):.1f} | {m.round_trips:.2f} "
            f"| {m.shard_ceiling:,.0f} | {m.pg_rows:.2f} | {m.pg_cpu_us:.1f} µs "
            f"| {m.ship_per_s:,.0f} |"
        )
    return lines


def commands_line(m: Measured) -> str:
    parts = sorted(m.redis_commands.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name} {count:.2f}" for name, count in parts)


def sizing_table(measured: Measured) -> list[str]:
    lines = [
        "| scenario (10,000 B200) | requests/s | output tokens/s | concurrent streams "
        "| Redis shards (nodes) | gateway cores (16-core replicas) | PostgreSQL cores, ledger "
        "| PostgreSQL instances, audit |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in scenarios():
        s = size(scenario, measured)
        lines.append(
            f"| {scenario.name} | {scenario.requests_per_s:,.0f} "
            f"| {scenario.output_tokens_per_s / 1e6:,.1f} M | {scenario.streams / 1e6:,.2f} M "
            f"| {s.redis_shards} ({s.redis_nodes}) | {s.gateway_cores:,} ({s.gateway_replicas}) "
            f"| {s.pg_ledger_cores} | {s.pg_audit_instances} |"
        )
    return lines


def median_of(rounds: Sequence[Measured]) -> Measured:
    ordered = sorted(rounds, key=lambda m: m.redis_cpu_us)
    return ordered[len(ordered) // 2]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--audit-per-s",
        type=float,
        default=0.0,
        help="audit records/s one PostgreSQL took (loadtest.audit_append, 4 writers)",
    )
    parser.add_argument("--drive", nargs=4, metavar=("PORT", "COUNT", "CONCURRENCY", "RUN"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.drive:
        port, count, concurrency, run = args.drive
        drive(int(port), int(count), int(concurrency), run)
        return 0
    rounds = [
        measure(args.requests, args.clients, args.concurrency, args.audit_per_s)
        for _ in range(args.rounds)
    ]
    print("\n".join(measured_table(rounds)))
    middle = median_of(rounds)
    print(
        f"\nRedis commands per request (round {rounds.index(middle) + 1}): {commands_line(middle)}"
    )
    if middle.audit_per_s > 0:
        print()
        print("\n".join(sizing_table(middle)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
