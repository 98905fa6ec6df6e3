"""A replica killed mid-request: another settles what its admission reserved (issue 12:
admission is a transaction, whatever happens after it, a crash of the replica included).

Replica A admits a long stream from a simulated engine (a concurrency lease and a token
charge on the real Redis) and is killed with SIGKILL: nothing of it runs any more, no
``finally``, no metering. Replica B, sharing Redis, sees A's heartbeat expire and settles the
admission exactly once: the lease ends, the estimate is refunded, the ledger holds one
``orphaned`` record with no usage, and the tenant (``concurrent: 1``) is served again.
"""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import httpx
import redis

from gateway.auth import hash_key
from gateway.core.limits import Limits, Scope
from gateway.quota.redis_store import scope_keys, tenant_base
from serving.simulator.background import SimulatorThread
from serving.simulator.host import SimulatorConfig
from tests.processes import SYSTEM_REDIS, VAULT_KEY, gateway_process, ledger

MODEL = "llama-3.1-8b"


def pending_key(tenant: str) -> str:
    return f"{tenant_base(tenant)}:pending"  # gateway.quota.redis_store.pending_key


LIMITS = {"concurrent": 1, "tokens_per_minute": 100_000}


def test_a_killed_replicas_admission_is_settled_by_another(tmp_path: Path) -> None:
    tenant, key = f"crash-{uuid.uuid4().hex[:8]}", f"sk-crash-{uuid.uuid4().hex}"
    scope = Scope(tenant, "tenant", Limits(**LIMITS))
    store = redis.Redis.from_url(SYSTEM_REDIS)
    leases_key, bucket_key = scope_keys(scope, time.time())[2], scope_keys(scope, time.time())[1]
    with SimulatorThread(SimulatorConfig("b200/llama-3.1-8b", MODEL, engines=1, speed=1.0)) as sim:
        config = {
            "store": {"redis_url": SYSTEM_REDIS, "jurisdiction": "DE", "operator": "test",
                      "orphan_sweep_interval": 0.5, "replica_heartbeat_ttl": 1.0},
            "security": {"pseudonym_key": VAULT_KEY},
            "metering": {"spool_dir": str(tmp_path / "spool")},
            "telemetry": {"audit_dir": str(tmp_path / "audit")},
            "pools": [{"name": "de", "jurisdiction": "DE", "site": "de-muc-1", "gpu": "b200",
                       "engines": sim.base_urls, "models": [MODEL]}],
            "tenants": [{"id": tenant, "limits": LIMITS,
                         "api_keys": [{"id": tenant, "hash": hash_key(key)}]}],
        }  # fmt: skip
        headers = {"authorization": f"Bearer {key}"}
        chat = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Erzähl mir eine lange Geschichte."}],
            "max_tokens": 2000,
            "stream": True,
        }
        try:
            with (
                gateway_process(config, tmp_path, "replica-a") as a,
                httpx.Client(timeout=30) as client,
                client.stream("POST", a.base_url + "/v1/chat/completions", json=chat,
                              headers=headers) as stream,
            ):  # fmt: skip
                assert stream.status_code == 200
                # The stream is flowing: admitted, lease held. The iterator is kept: dropped,
                # it would close the connection, and the gateway would abort the request.
                chunks = stream.iter_raw()
                next(chunks)
                assert store.zcard(leases_key) == 1
                assert store.hlen(pending_key(tenant)) == 1
                charged = float(store.hget(bucket_key, "level") or 0)
                assert charged < LIMITS["tokens_per_minute"]
                a.process.send_signal(signal.SIGKILL)
                a.process.wait(10)
            assert store.zcard(leases_key) == 1  # nobody settled it yet

            with gateway_process(config, tmp_path, "replica-b") as b:
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and store.zcard(leases_key):
                    time.sleep(0.1)
                assert store.zcard(leases_key) == 0, "the dead replica's lease was never freed"
                assert store.hlen(pending_key(tenant)) == 0
                level = float(store.hget(bucket_key, "level") or 0)
                assert level > charged  # the estimate came back
                records = ledger(SYSTEM_REDIS, tenant, at_least=1)
                assert [(r.status, r.total_tokens, r.gateway) for r in records] == [
                    ("orphaned", 0, "replica-a")
                ]
                short = {**chat, "stream": False, "max_tokens": 2}
                served = httpx.post(b.base_url + "/v1/chat/completions", json=short,
                                    headers=headers, timeout=30)  # fmt: skip
                assert served.status_code == 200, served.text
                deadline = time.monotonic() + 5  # metered just after the answer was sent
                while time.monotonic() < deadline and len(ledger(SYSTEM_REDIS, tenant)) < 2:
                    time.sleep(0.05)
                statuses = sorted(r.status for r in ledger(SYSTEM_REDIS, tenant))
                assert statuses == ["ok", "orphaned"]  # the orphan settled once, not twice
        finally:
            for found in store.scan_iter(match=f"{tenant_base(tenant)}:*"):
                store.delete(found)
            store.close()
