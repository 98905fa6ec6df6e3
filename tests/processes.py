"""Gateway processes and a private Redis server, for tests of what replicas share."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import redis
import yaml

from gateway.auth import hash_key
from gateway.core.usage import UsageRecord
from tests.launcher import launch, stop
from tests.ledger_db import ledger_records, with_ledger
from tests.servers import free_port, wait_healthy

SYSTEM_REDIS = "redis://127.0.0.1:6379/0"
ADMIN_TOKEN = "sk-admin-test-credential"
# The pseudonym vault's key for gateways sharing Redis (every replica needs the same one).
VAULT_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


def ledger(url: str, tenant: str, at_least: int = 0, timeout: float = 15.0) -> list[UsageRecord]:
    """A tenant's usage ledger, read straight from the durable ledger (PostgreSQL) that
    ``gateway_process`` gives every gateway with Redis, once the tenant's hand-off stream in
    the Redis at ``url`` is empty (all shipped) and it holds ``at_least`` records."""
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url)
    try:
        while client.xlen(f"sg:{{{tenant}}}:handoff") and time.monotonic() < deadline:
            time.sleep(0.05)
    except redis.ConnectionError:
        pass  # Redis is down: what is in PostgreSQL is what there is
    finally:
        client.close()
    return ledger_records(tenant, at_least=at_least, timeout=max(0.0, deadline - time.monotonic()))


@dataclass(frozen=True)
class GatewayProcess:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self, key: str, **options: Any) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.base_url + "/v1", api_key=key, max_retries=0, timeout=60, **options
        )

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url + "/admin/v1",
            headers={"authorization": "Bearer " + ADMIN_TOKEN},
            timeout=10,
        )


@contextmanager
def gateway_process(config: dict[str, Any], folder: Path, name: str) -> Iterator[GatewayProcess]:
    """``config``'s ``server`` section (if any) on 127.0.0.1, on its port if it names one
    (a test that must know the URL beforehand, e.g. for an IdP's redirect URI), else a free
    one."""
    with gateway_processes({name: config}, folder) as started:
        yield started[0]


@contextmanager
def gateway_processes(
    configs: dict[str, dict[str, Any]], folder: Path
) -> Iterator[list[GatewayProcess]]:
    """One process per ``{name: config}``, all started before any is waited for (their
    start-ups overlap), each on a free port on 127.0.0.1; stopped when the block ends."""
    with ExitStack() as stack:
        launched = [stack.enter_context(_launch(c, folder, n)) for n, c in configs.items()]
        for gateway in launched:
            wait_healthy(gateway.base_url, gateway.process, gateway.log_path)
        yield launched


@contextmanager
def _launch(config: dict[str, Any], folder: Path, name: str) -> Iterator[GatewayProcess]:
    port = config.get("server", {}).get("port") or free_port()
    path = folder / f"{name}.yaml"
    server = {**config.get("server", {}), "host": "127.0.0.1", "port": port}
    # With Redis, the durable ledger this test run uses (tests/ledger_db.py), unless given.
    path.write_text(yaml.safe_dump({**with_ledger(config), "server": server}))
    log_path = folder / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVEREIGN_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["SOVEREIGN_METERING__GATEWAY_ID"] = name
    with open(log_path, "wb") as log:
        process: subprocess.Popen[bytes] = launch(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        yield GatewayProcess(f"http://127.0.0.1:{port}", process, log_path)
    finally:
        stop(process, 15)


def policy_pair(prefix: str) -> dict[str, str]:
    """Two tenants' keys, ``{tenant: key}``, fresh per run: ``{prefix}-plain`` (no policy) and
    ``{prefix}-gdpr`` (gdpr-default), for ``policy_pair_gateway``."""
    suffix = uuid.uuid4().hex[:8]
    return {f"{prefix}-{kind}-{suffix}": f"sk-{prefix}-{kind}-{uuid.uuid4().hex}"
            for kind in ("plain", "gdpr")}  # fmt: skip


@contextmanager
def policy_pair_gateway(
    engine_url: str, model: str, keys: dict[str, str], folder: Path, name: str
) -> Iterator[GatewayProcess]:
    """A gateway process in front of one engine (a DE pool) with the two tenants of
    ``policy_pair``: the first with no policy, the second with gdpr-default; Redis as store,
    audit and spool under ``folder``."""
    plain, gdpr = keys

    def tenant(tid: str, **spec: str) -> dict[str, Any]:
        return {"id": tid, "api_keys": [{"id": f"{tid}-1", "hash": hash_key(keys[tid])}], **spec}

    config = {
        "store": {"redis_url": SYSTEM_REDIS, "jurisdiction": "DE", "operator": "test"},
        "security": {"pseudonym_key": VAULT_KEY},
        "privacy": {"default_policy": None},
        "telemetry": {"audit_dir": str(folder / "audit")},
        "metering": {"spool_dir": str(folder / "spool")},
        "pools": [{"name": "local-de", "jurisdiction": "DE", "site": "de-local-1",
                   "engines": [engine_url], "models": [model]}],
        "tenants": [tenant(plain), tenant(gdpr, policy="gdpr-default")],
    }  # fmt: skip
    with gateway_process(config, folder, name) as process:
        yield process


class RedisServer:
    """A Redis of the test's own (the shared one on 6379 must never be stopped), with an
    append-only file so that what it held survives a stop and restart, as in production."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self._binary = binary
        self._folder = folder
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = launch(
            [self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self._folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return
            except redis.exceptions.ConnectionError:
                pass  # not up yet
            time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        if self._process is not None:
            stop(self._process, 10)  # SIGTERM first: Redis flushes its append-only file
            self._process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
