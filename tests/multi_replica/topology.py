"""Four gateway processes sharing one Redis deployment and PostgreSQL, in front of a pool of
simulated engines, and what the engines themselves saw (the witness the tests compare with).

The Redis deployment is a Redis Cluster of three primaries, each with a replica
(``tests/redis_topology.py``); the durable usage ledger and the audit trail live in a
PostgreSQL schema of the run's own, dropped afterwards. Tenants come from the configuration,
fresh ids per run.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from gateway.auth import hash_key
from gateway.core.usage import UsageRecord
from serving.simulator.background import SimulatorThread
from serving.simulator.host import SimulatorConfig
from serving.simulator.scheduler import Sequence
from tests.processes import ADMIN_TOKEN, VAULT_KEY, GatewayProcess, gateway_processes
from tests.redis_topology import Cluster, redis_cluster

MODEL = "llama-3.1-8b"
PROFILE = "b200/llama-3.1-8b"  # at speed 1: about 3 ms a token, so max_tokens sets duration
ENGINES = 2
REPLICAS = 4
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
AUDIT_KEY = "YXVkaXQtaG1hYy1rZXktb2YtdGhlLXRlc3QtcnVuLTE="  # base64 of 32 bytes


@dataclass(frozen=True)
class TenantPlan:
    """A tenant of the run: its id and key are fresh, its limits and degraded mode chosen."""

    name: str
    id: str
    key: str
    limits: dict[str, int]
    degraded_mode: str = "fail_closed"

    @staticmethod
    def of(name: str, degraded_mode: str = "fail_closed", **limits: int) -> TenantPlan:
        run = uuid.uuid4().hex[:8]
        return TenantPlan(name, f"mr-{name}-{run}", f"sk-mr-{name}-{run}", limits, degraded_mode)

    def config(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "limits": self.limits,
            "degraded_mode": self.degraded_mode,
            "api_keys": [{"id": f"{self.id}-1", "hash": hash_key(self.key)}],
        }


class EngineWitness:
    """Every sequence the simulated engines were given, by the gateway's request id, and the
    most sequences in all engines at once (the engines' own view of concurrency).

    Sequences enter an engine only through ``Engine.submit`` and the count in the engines
    only grows there, so its peak is taken exactly at submits. All engines run on the
    simulator's one loop, so the count over all of them is a consistent snapshot."""

    def __init__(self, simulator: SimulatorThread) -> None:
        count = len(simulator.base_urls)
        self._engines = [simulator.simulator.engine(i) for i in range(count)]
        self.sequences: list[Sequence] = []
        self.peak = 0
        for engine in self._engines:
            setattr(engine, "submit", partial(self._submit, engine.submit))  # noqa: B010

    def _submit(self, submit: Callable[[Sequence], None], seq: Sequence) -> None:
        submit(seq)
        self.sequences.append(seq)
        now = sum(len(e.core.running) + len(e.core.waiting) for e in self._engines)
        self.peak = max(self.peak, now)

    def reset(self) -> None:
        """Call while no request is in flight."""
        self.sequences = []
        self.peak = 0

    def usage(self) -> dict[str, tuple[int, int]]:
        """Request id -> (prompt, completion) tokens as the engines counted them (the prompt
        counts once its first token came, as vLLM's counter); summed over retries."""
        seen: dict[str, tuple[int, int]] = {}
        for seq in self.sequences:
            request_id = seq.request_id.partition("-")[2]  # chatcmpl-<id>, cmpl-<id>
            prompt = seq.prompt_len if seq.first_token_at is not None else 0
            before = seen.get(request_id, (0, 0))
            seen[request_id] = (before[0] + prompt, before[1] + seq.generated)
        return seen


@dataclass
class Topology:
    gateways: list[GatewayProcess]
    simulator: SimulatorThread
    witness: EngineWitness
    cluster: Cluster
    schema: str
    folder: Path
    tenants: dict[str, TenantPlan]

    def config_path(self, index: int = 0) -> Path:
        return self.folder / f"gw{index}.yaml"

    def usage(self, tenant: TenantPlan) -> list[UsageRecord]:
        """The tenant's ledger through the admin API (the durable store), the last day."""
        now = dt.datetime.now(dt.UTC)
        params = {
            "from": (now - dt.timedelta(days=1)).isoformat(),
            "to": (now + dt.timedelta(hours=1)).isoformat(),
            "records": "true",
        }
        with self.gateways[0].admin() as admin:
            answer = admin.get(f"/tenants/{tenant.id}/usage", params=params)
        answer.raise_for_status()
        return [UsageRecord.model_validate(r) for r in answer.json()["records"]]

    def wait_usage(
        self, tenant: TenantPlan, count: int, timeout: float = 30.0
    ) -> list[UsageRecord]:
        """The ledger once it holds ``count`` records (metering follows the answer, and may
        go through a spool), read again a moment later: a late duplicate would show."""
        deadline = time.monotonic() + timeout
        while len(self.usage(tenant)) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        return self.usage(tenant)

    def audit_verify(self) -> subprocess.CompletedProcess[str]:
        """``sovereign-gateway audit verify`` against the PostgreSQL store the replicas share:
        every replica's chain and the anchors over them."""
        return subprocess.run(
            [sys.executable, "-m", "gateway.cli", "audit", "verify", "--config",
             str(self.config_path(0))],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip


def gateway_config(
    index: int,
    redis_url: str,
    engines: list[str],
    schema: str,
    folder: Path,
    tenants: list[TenantPlan],
) -> dict[str, Any]:
    """One replica's configuration: all share the Redis Cluster, the ledger and audit schema
    and the engines; each has a spool of its own, as on separate hosts."""
    own = folder / f"gw{index}"
    return {
        "store": {
            "redis_url": redis_url,
            "jurisdiction": "DE",
            "operator": "test",
            # 2 s, not 0.5: on a loaded 2-core CI machine a Redis reply can take longer than
            # 0.5 s, and a fail_closed tenant's request would then be refused with a 503.
            "socket_timeout": 2.0,
            "orphan_sweep_interval": 2.0,
            "replica_heartbeat_ttl": 6.0,
        },
        "security": {"pseudonym_key": VAULT_KEY},
        "privacy": {"default_policy": None},
        "metering": {
            "spool_dir": str(own / "spool"),
            "replay_interval": 0.5,
            "ledger_dsn": PG_DSN,
            "ledger_jurisdiction": "DE",
            "ledger_operator": "test",
            "ledger_schema": schema,
        },
        "telemetry": {
            "audit_dir": str(own / "audit"),
            "flush_interval_ms": 100,
            # One chain per replica (named by its gateway id), anchored every second.
            "audit": {
                "jurisdiction": "DE",
                "operator": "test",
                "dsn": PG_DSN,
                "schema_name": schema,
                "hmac_key": AUDIT_KEY,
                "anchor_interval": 1.0,
            },
        },
        "admin": {"token_hash": hash_key(ADMIN_TOKEN)},
        "pools": [
            {
                "name": "de",
                "jurisdiction": "DE",
                "site": "de-muc-1",
                "gpu": "b200",
                "engines": engines,
                "models": [MODEL],
            }
        ],
        "tenants": [t.config() for t in tenants],
    }


@contextmanager
def pg_schema(prefix: str = "mr") -> Iterator[str]:
    """A schema of the run's own in the ``test`` database, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@contextmanager
def topology(folder: Path, tenants: list[TenantPlan]) -> Iterator[Topology]:
    with ExitStack() as stack:
        cluster = stack.enter_context(redis_cluster(folder / "redis", 3, 1))
        schema = stack.enter_context(pg_schema())
        simulator = stack.enter_context(
            SimulatorThread(SimulatorConfig(PROFILE, MODEL, engines=ENGINES, speed=1.0))
        )
        witness = EngineWitness(simulator)
        configs = {
            f"gw{i}": gateway_config(i, cluster.url, simulator.base_urls, schema, folder, tenants)
            for i in range(REPLICAS)
        }
        gateways = stack.enter_context(gateway_processes(configs, folder))
        for gateway in gateways:
            _wait_serving(gateway, tenants[0].key)
        plans = {t.name: t for t in tenants}
        yield Topology(gateways, simulator, witness, cluster, schema, folder, plans)


def _wait_serving(gateway: GatewayProcess, key: str) -> None:
    """Until the replica lists the model (its routing monitor has seen the engines)."""
    headers = {"authorization": f"Bearer {key}"}
    for _ in range(200):
        answer = httpx.get(gateway.base_url + "/v1/models", headers=headers, timeout=10)
        if answer.status_code == 200 and MODEL in answer.text:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{gateway.base_url} never listed {MODEL}")
