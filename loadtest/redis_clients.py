"""Which Redis client for admission and metering (issue 15, item 1): CPU per call, measured.

    python -m loadtest.redis_clients [--calls 3000] [--concurrency 16] [--rounds 3]

Every candidate makes the gateway's own calls: ``RedisQuotaStore.admit`` (one EVALSHA of
``admit.lua`` over two scopes, a tenant and a key with every limit set, never refusing) and
``RedisQuotaStore.meter`` (one EVALSHA of ``meter.lua``), with the candidate's client under
the store in place of ``resp.py``'s ``ScriptRunner``: the keys, arguments, the pending entry's
JSON and the reply's parsing are the store's own. Calls spread over eight tenants, so that on
the cluster they land on all three primaries (a tenant's keys share one hash slot).

Each phase is ``--calls`` admissions, then as many meterings of them, from ``--concurrency``
asyncio tasks on uvloop, as a gateway worker runs them. Measured per phase: the process's CPU
time (``time.process_time``: every thread, so valkey-glide's Rust threads count), wall time,
and each call's latency. A candidate's client is opened, warmed up and closed around its own
phases, so no idle client's background work falls into another's. Rounds rotate the order.

Rows: ``store only`` (a runner that answers at once, no I/O: what the store itself costs per
call, the same for every client), ``resp.py`` (our hand-written client; on the cluster its
hash-slot router, ``cluster_runner.py``), redis-py asyncio, coredis and valkey-glide, on the
local Redis (db 9, which no test uses) and
on a Redis Cluster of three primaries started here with ``redis-server`` (torn down at the
end). The verdict compares each client's CPU per admission with ``resp.py``'s on one node.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import importlib.util
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, cast

import redis
import redis.asyncio
import uvloop
from redis.asyncio.cluster import ClusterNode, RedisCluster

from gateway.core.limits import Limits, Scope
from gateway.core.usage import UsageRecord
from gateway.quota.cluster_runner import ClusterRunner
from gateway.quota.redis_store import RedisQuotaStore
from gateway.quota.resp import Script, ScriptRunner
from loadtest.local import free_port
from loadtest.overhead import pct

HOST = "127.0.0.1"
SINGLE_PORT = 6379
SINGLE_DB = 9  # tests use 0 and 11
TIMEOUT_S = 3.0  # as the other benchmarks: a loaded 2-core machine can make Redis wait
TENANTS = 8
ESTIMATE = 100
LIMITS = Limits(
    requests_per_minute=10**9, tokens_per_minute=10**12, concurrent=10**6, monthly_tokens=10**15
)
KEY_LIMITS = LIMITS.model_copy(update={"requests_per_minute": 10**9 - 1})
SCRIPTS = ("admit.lua", "meter.lua")


def _script(name: str) -> str:
    return resources.files("gateway.quota").joinpath(name).read_text()


METER_SHA = Script(_script("meter.lua")).sha
Call = Callable[[], Awaitable[object]]


class Runner(Protocol):
    """What RedisQuotaStore asks of its hot-path connection."""

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[object]) -> Any: ...


@dataclass(frozen=True)
class Target:
    name: str  # "single" or "cluster"
    ports: tuple[int, ...]
    db: int = 0


# --- the candidates: each opens a client to a target and adapts it to the store's runner ---


class StoreOnly:
    """Answers at once without I/O: the store's own work per call (keys, JSON, parsing)."""

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[object]) -> Any:
        if script.sha == METER_SHA:
            return 1
        return [1, b"", 0, -1, *[-1] * (4 * int(str(args[0])))]


class RedisPy:
    def __init__(self, client: Any) -> None:
        self._client = client

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[object]) -> Any:
        return await self._client.evalsha(script.sha, len(keys), *keys, *args)


class Coredis:
    def __init__(self, client: Any) -> None:
        self._client = client

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[object]) -> Any:
        return await self._client.evalsha(script.sha, list(keys), list(args))


class Glide:
    """``invoke_script`` (EVALSHA, loading the script on NOSCRIPT); arguments must be text."""

    def __init__(self, client: Any, glide: Any) -> None:
        self._client = client
        self._scripts = {name: glide.Script(_script(name)) for name in SCRIPTS}
        self._by_sha = {Script(_script(name)).sha: name for name in SCRIPTS}

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[object]) -> Any:
        text = [a if isinstance(a, str | bytes) else str(a) for a in args]
        return await self._client.invoke_script(
            self._scripts[self._by_sha[script.sha]], list(keys), text
        )


Opener = Callable[[Target], contextlib.AbstractAsyncContextManager[Runner]]


@contextlib.asynccontextmanager
async def open_store_only(target: Target) -> AsyncIterator[Runner]:
    yield StoreOnly()


@contextlib.asynccontextmanager
async def open_resp(target: Target) -> AsyncIterator[Runner]:
    runner: ScriptRunner | ClusterRunner
    if target.name == "cluster":  # routed by hash slot (gateway/quota/cluster_runner.py)
        seeds = [(HOST, port) for port in target.ports]
        runner = ClusterRunner(seeds, timeout=TIMEOUT_S, connect_timeout=TIMEOUT_S)
    else:
        runner = ScriptRunner(
            HOST, target.ports[0], db=target.db, timeout=TIMEOUT_S, connect_timeout=TIMEOUT_S
        )
    try:
        yield runner
    finally:
        runner.close()


@contextlib.asynccontextmanager
async def open_redis_py(target: Target) -> AsyncIterator[Runner]:
    client: Any
    if target.name == "cluster":
        nodes = [ClusterNode(HOST, port) for port in target.ports]
        client = RedisCluster(startup_nodes=nodes, socket_timeout=TIMEOUT_S)
    else:
        client = redis.asyncio.Redis(
            host=HOST, port=target.ports[0], db=target.db, socket_timeout=TIMEOUT_S
        )
    try:
        yield RedisPy(client)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def open_coredis(target: Target) -> AsyncIterator[Runner]:
    coredis: Any = importlib.import_module("coredis")
    client: Any
    if target.name == "cluster":
        client = coredis.RedisCluster(HOST, target.ports[0], stream_timeout=TIMEOUT_S)
    else:
        client = coredis.Redis(HOST, target.ports[0], db=target.db, stream_timeout=TIMEOUT_S)
    async with client:  # coredis 6: a client is only usable inside its context
        yield Coredis(client)


@contextlib.asynccontextmanager
async def open_glide(target: Target) -> AsyncIterator[Runner]:
    glide: Any = importlib.import_module("glide")
    addresses = [glide.NodeAddress(HOST, port) for port in target.ports]
    timeout_ms = int(TIMEOUT_S * 1000)
    if target.name == "cluster":
        config = glide.GlideClusterClientConfiguration(addresses, request_timeout=timeout_ms)
        client = await glide.GlideClusterClient.create(config)
    else:
        config = glide.GlideClientConfiguration(
            addresses, database_id=target.db, request_timeout=timeout_ms
        )
        client = await glide.GlideClient.create(config)
    try:
        yield Glide(client, glide)
    finally:
        await client.close()


@dataclass(frozen=True)
class Candidate:
    name: str
    module: str  # the package that must import
    open: Opener
    cluster: bool  # also measured on the cluster


CANDIDATES = (
    Candidate("store only", "gateway", open_store_only, cluster=False),
    Candidate("resp.py", "hiredis", open_resp, cluster=True),
    Candidate("redis-py", "redis", open_redis_py, cluster=True),
    Candidate("coredis", "coredis", open_coredis, cluster=True),
    Candidate("valkey-glide", "glide", open_glide, cluster=True),
)


def available(names: Sequence[str] | None = None) -> tuple[list[Candidate], list[str]]:
    """The candidates whose package imports here, and a note for each one that does not."""
    chosen, missing = [], []
    for candidate in CANDIDATES:
        if names and candidate.name not in names:
            continue
        if importlib.util.find_spec(candidate.module) is None:
            missing.append(f"{candidate.name}: `{candidate.module}` is not installed")
        else:
            chosen.append(candidate)
    return chosen, missing


# --- the calls: the gateway's own admission and metering, through RedisQuotaStore ---


def scopes_of(tenant: str) -> tuple[Scope, Scope]:
    return Scope(tenant, "tenant", LIMITS), Scope(tenant, "key:k1", KEY_LIMITS)


def usage_record(tenant: str, request_id: str, now: float) -> UsageRecord:
    return UsageRecord(
        request_id=request_id, tenant=tenant, key_id="k1", endpoint="chat.completions",
        model="llama-3.1-8b", pool="local", site="local", jurisdiction="DE",
        engine="http://127.0.0.1:8000", stream=True, status="ok", http_status=200,
        prompt_tokens=60, completion_tokens=52, usage_source="engine",
        estimated_tokens=ESTIMATE, started_at=now, ttft_ms=41.0, duration_ms=900.0,
        gateway="bench", policy="gdpr-default@1", policy_mode="enforce",
    )  # fmt: skip


def store_for(runner: Runner) -> RedisQuotaStore:
    """The gateway's store over ``runner`` (duck-typed: the store only calls ``evalsha``).
    The redis-py client it also takes is never connected: admission and metering do not use it."""
    client = redis.asyncio.Redis(host=HOST, port=SINGLE_PORT, db=SINGLE_DB)
    return RedisQuotaStore(client, runner=cast(ScriptRunner, runner), gateway="bench")


def requests_for(run: str, count: int) -> list[tuple[str, str]]:
    """(tenant, request id) of ``count`` requests spread over the tenants."""
    return [(f"{run}-{i % TENANTS}", f"{run}-{uuid.uuid4().hex[:12]}") for i in range(count)]


def admissions(store: RedisQuotaStore, requests: Sequence[tuple[str, str]]) -> list[Call]:
    return [
        partial(store.admit, scopes_of(tenant), ESTIMATE, request_id, key_id="k1")
        for tenant, request_id in requests
    ]


def meterings(store: RedisQuotaStore, requests: Sequence[tuple[str, str]]) -> list[Call]:
    now = time.time()
    return [
        partial(store.meter, usage_record(tenant, request_id, now), scopes_of(tenant))
        for tenant, request_id in requests
    ]


# --- measuring ---


@dataclass
class Totals:
    cpu: float = 0.0
    wall: float = 0.0
    calls: int = 0
    latencies: list[float] = field(default_factory=list)
    rounds: list[float] = field(default_factory=list)  # CPU µs per call of each phase

    def cpu_us(self) -> float:
        return self.cpu / max(self.calls, 1) * 1e6

    def spread(self) -> str:
        return f"{min(self.rounds, default=0):.0f}-{max(self.rounds, default=0):.0f}"

    def per_s(self) -> float:
        return self.calls / self.wall if self.wall else 0.0


async def phase(calls: Sequence[Call], concurrency: int, totals: Totals) -> None:
    """All ``calls`` from ``concurrency`` tasks; CPU and wall time of the whole phase."""
    latencies = [0.0] * len(calls)
    pending = iter(enumerate(calls))

    async def worker() -> None:
        for index, call in pending:
            start = time.perf_counter()
            await call()
            latencies[index] = time.perf_counter() - start

    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    spent = time.process_time() - cpu
    totals.cpu += spent
    totals.rounds.append(spent / max(len(calls), 1) * 1e6)
    totals.wall += time.perf_counter() - wall
    totals.calls += len(calls)
    totals.latencies += latencies


@dataclass
class Row:
    client: str
    target: str
    admit: Totals = field(default_factory=Totals)
    meter: Totals = field(default_factory=Totals)


async def measure_one(
    candidate: Candidate, target: Target, row: Row, args: argparse.Namespace, run: str
) -> None:
    async with candidate.open(target) as runner:
        store = store_for(runner)
        warm = requests_for(run, min(200, args.calls))
        for tenant, request_id in warm[:1]:  # the calls are the gateway's, and they work
            decision = await store.admit(scopes_of(tenant), ESTIMATE, request_id, key_id="k1")
            metered = await store.meter(
                usage_record(tenant, request_id, time.time()), scopes_of(tenant)
            )
            if not (decision.allowed and metered):
                raise RuntimeError(f"{row.client} on {row.target}: {decision}, metered {metered}")
        await phase(admissions(store, warm[1:]), args.concurrency, Totals())
        await phase(meterings(store, warm[1:]), args.concurrency, Totals())
        requests = requests_for(run, args.calls)
        await phase(admissions(store, requests), args.concurrency, row.admit)
        await phase(meterings(store, requests), args.concurrency, row.meter)


async def measure(
    plan: Sequence[tuple[Candidate, Target, Row]], args: argparse.Namespace, run: str
) -> None:
    for round_ in range(args.rounds):
        shift = round_ % len(plan)
        for candidate, target, row in [*plan[shift:], *plan[:shift]]:
            await measure_one(candidate, target, row, args, run)


# --- the cluster and the keys ---


def cluster_ports(count: int) -> list[int]:
    """Free ports whose cluster bus port (port + 10000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as bus:
            try:
                bus.bind((HOST, port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


def _ping(client: Any) -> bool:
    return bool(client.ping())


def _cluster_ok(client: Any) -> bool:
    return bool(client.cluster("info")["cluster_state"] == "ok")


def _wait(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            if check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def node_argv(port: int, folder: str) -> list[str]:
    """A cluster node that persists nothing (its cluster state file aside, in ``folder``)."""
    return [
        "redis-server", "--port", str(port), "--bind", HOST, "--cluster-enabled", "yes",
        "--cluster-config-file", f"nodes-{port}.conf", "--dir", folder, "--save", "",
        "--appendonly", "no",
    ]  # fmt: skip


@contextlib.contextmanager
def redis_cluster(primaries: int = 3) -> Iterator[tuple[int, ...]]:
    """A cluster of ``primaries`` nodes, no replicas, nothing persisted; removed on exit."""
    folder = tempfile.mkdtemp(prefix="sg-cluster-")
    ports = cluster_ports(primaries)
    nodes = [
        subprocess.Popen(
            node_argv(port, folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for port in ports
    ]
    clients = [redis.Redis(host=HOST, port=port) for port in ports]
    try:
        for client in clients:
            _wait(partial(_ping, client), "a cluster node to start")
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"{HOST}:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        for client in clients:
            _wait(partial(_cluster_ok, client), "the cluster")
        yield tuple(ports)
    finally:
        for client in clients:
            client.close()
        for node in nodes:
            node.terminate()
        for node in nodes:
            node.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def load_scripts(target: Target) -> None:
    """Into every node's script cache: redis-py and coredis send EVALSHA only, as resp.py does
    once warm (a restarted node would answer NOSCRIPT; resp.py and glide reload, the others
    would need a fallback)."""
    for port in target.ports:
        with redis.Redis(host=HOST, port=port, db=target.db) as client:
            for name in SCRIPTS:
                client.script_load(_script(name))


def delete_keys(target: Target, run: str) -> None:
    for port in target.ports:
        with redis.Redis(host=HOST, port=port, db=target.db) as client:
            # One at a time: a cluster node holds keys of many slots.
            for key in list(client.scan_iter(match=f"sg:{{{run}-*", count=1000)):
                client.delete(key)


# --- the report ---


def verdicts(rows: Sequence[Row]) -> list[str]:
    """Each client's CPU per admission against resp.py's on one node (25 % is the issue's bar);
    also the client's own share (less the store's own work, the ``store only`` row)."""
    by_name = {(row.client, row.target): row for row in rows}
    reference, own = by_name.get(("resp.py", "single")), by_name.get(("store only", "single"))
    if reference is None:
        return ["- no verdict: resp.py was not measured"]
    lines = []
    base = reference.admit.cpu_us()
    store = own.admit.cpu_us() if own else 0.0
    for row in rows:
        if row.client in ("store only", "resp.py"):
            continue
        ratio = row.admit.cpu_us() / base - 1
        within = "within" if ratio <= 0.25 + 1e-9 else "**not within**"
        client_ratio = (row.admit.cpu_us() - store) / max(base - store, 1e-9) - 1
        line = (
            f"- {row.client} ({row.target}): {row.admit.cpu_us():.0f} µs CPU per admission, "
            f"{ratio:+.0%} against resp.py's {base:.0f} µs: {within} 25 %"
        )
        if own is not None:
            line += (
                f" (the client's own part, less the store's {store:.0f} µs: {client_ratio:+.0%})"
            )
        lines.append(line)
    return lines


def table(rows: Sequence[Row], args: argparse.Namespace, missing: Sequence[str]) -> list[str]:
    lines = [
        f"Redis clients for admission (issue 15), {time.strftime('%Y-%m-%d %H:%M')} on "
        f"{platform.node()} ({os.cpu_count()} cores), redis-server "
        f"{_server_version()}: {args.calls} admissions and {args.calls} meterings per client "
        f"and round, {args.concurrency} tasks, {args.rounds} rounds (order rotated); CPU is the "
        "benchmark process's (every thread), not Redis's",
        "",
        "| client | target | admit CPU µs | (rounds) | admit p50 ms | admit p99 ms | admissions/s "
        "| meter CPU µs | meter p50 ms | meter p99 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        a, m = row.admit, row.meter
        lines.append(
            f"| {row.client} | {row.target} | {a.cpu_us():.1f} | {a.spread()} "
            f"| {pct(a.latencies, 0.5) * 1e3:.2f} "
            f"| {pct(a.latencies, 0.99) * 1e3:.2f} | {a.per_s():,.0f} | {m.cpu_us():.1f} "
            f"| {pct(m.latencies, 0.5) * 1e3:.2f} | {pct(m.latencies, 0.99) * 1e3:.2f} |"
        )
    lines += ["", *verdicts(rows)]
    lines += [f"- not measured: {note}" for note in missing]
    return lines


def _server_version() -> str:
    with redis.Redis(host=HOST, port=SINGLE_PORT) as client:
        return str(client.info("server").get("redis_version", "?"))


def as_json(rows: Sequence[Row]) -> list[dict[str, object]]:
    return [
        {
            "client": row.client,
            "target": row.target,
            **{
                f"{kind}_{key}": value
                for kind, totals in (("admit", row.admit), ("meter", row.meter))
                for key, value in (
                    ("cpu_us", totals.cpu_us()),
                    ("cpu_us_rounds", totals.rounds),
                    ("p50_ms", pct(totals.latencies, 0.5) * 1e3),
                    ("p99_ms", pct(totals.latencies, 0.99) * 1e3),
                    ("per_s", totals.per_s()),
                    ("calls", totals.calls),
                )
            },
        }
        for row in rows
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.redis_clients", description=__doc__)
    parser.add_argument("--calls", type=int, default=3000, help="per client, phase and round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", help="comma-separated subset, e.g. resp.py,redis-py")
    parser.add_argument("--no-cluster", action="store_true", help="the local Redis only")
    parser.add_argument("--out", type=Path, default=Path("loadtest/results/redis_clients.md"))
    parser.add_argument("--json", type=Path, default=Path("loadtest/results/redis_clients.json"))
    args = parser.parse_args(argv)
    candidates, missing = available(args.clients.split(",") if args.clients else None)
    run = "rcbench-" + uuid.uuid4().hex[:8]
    single = Target("single", (SINGLE_PORT,), SINGLE_DB)
    with contextlib.ExitStack() as stack:
        targets = [single]
        if not args.no_cluster and any(c.cluster for c in candidates):
            targets.append(Target("cluster", stack.enter_context(redis_cluster())))
        plan = [
            (candidate, target, Row(candidate.name, target.name))
            for target in targets
            for candidate in candidates
            if target.name == "single" or candidate.cluster
        ]
        try:
            for target in targets:
                load_scripts(target)
            uvloop.run(measure(plan, args, run))
        finally:
            for target in targets:
                delete_keys(target, run)
    rows = [row for _, _, row in plan]
    text = "\n".join(table(rows, args, missing))
    command = "python -m loadtest.redis_clients " + " ".join(argv or sys.argv[1:])
    print(f"{command}\n\n{text}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    report = {"args": settings, "rows": as_json(rows), "missing": missing}
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
