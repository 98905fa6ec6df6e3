"""One gateway process for the fuzz suite: Redis store with all four limits, gdpr-default,
audit on, a simulated engine. Its Redis is the suite's own (``redis-server`` on a free port),
so whatever the fuzzer creates through the admin API is thrown away with it.

The budget: ``SOVEREIGN_FUZZ_EXAMPLES`` examples per operation (default 25; the body
strategies get eight times as many: the whole suite in about a minute on two cores). The
cases are the same every run unless ``SOVEREIGN_FUZZ_RANDOM=1``; raise both for a hunt.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.auth import hash_key
from serving.simulator.background import SimulatorThread
from serving.simulator.host import SimulatorConfig
from tests.processes import ADMIN_TOKEN, VAULT_KEY, GatewayProcess, RedisServer, gateway_process

MODEL = "llama-3.1-8b"
TENANT, KEY = "fuzz-tenant", "sk-fuzz-tenant-key-0001"
EXAMPLES = int(os.environ.get("SOVEREIGN_FUZZ_EXAMPLES", "25"))
# The same cases every run (a CI failure reproduces locally); SOVEREIGN_FUZZ_RANDOM=1 hunts.
DERANDOMIZE = os.environ.get("SOVEREIGN_FUZZ_RANDOM", "") != "1"
LIMITS = {
    "requests_per_minute": 1_000_000,
    "tokens_per_minute": 1_000_000_000,
    "concurrent": 64,
    "monthly_tokens": 10**12,
}


@dataclass(frozen=True)
class FuzzTarget:
    gateway: GatewayProcess
    redis_url: str
    tenant: str = TENANT
    key: str = KEY
    admin_token: str = ADMIN_TOKEN
    model: str = MODEL


@pytest.fixture(scope="package")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    with (
        RedisServer(folder) as redis,
        SimulatorThread(SimulatorConfig("b200/llama-3.1-8b", MODEL, engines=1, speed=0.01)) as sim,
    ):
        config = {
            "store": {"redis_url": redis.url, "jurisdiction": "DE", "operator": "test"},
            "security": {"pseudonym_key": VAULT_KEY},
            "metering": {"spool_dir": str(folder / "spool")},
            "admin": {"token_hash": hash_key(ADMIN_TOKEN)},
            "telemetry": {"audit_dir": str(folder / "audit")},
            "batches": {"store": {"jurisdiction": "DE", "operator": "test",
                                  "path": str(folder / "batches")}},
            "pools": [{"name": "de", "jurisdiction": "DE", "site": "de-muc-1", "gpu": "b200",
                       "engines": sim.base_urls, "models": [MODEL]}],
            "tenants": [{"id": TENANT, "limits": LIMITS,
                         "api_keys": [{"id": "fuzz-1", "hash": hash_key(KEY)}]}],
        }  # fmt: skip
        with gateway_process(config, folder, "fuzzed") as gateway:
            yield FuzzTarget(gateway, redis.url)
