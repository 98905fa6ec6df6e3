"""A Redis that answers ``LOADING`` (restarted, reading its append-only file) is a Redis that is
down: requests get the tenant's degraded mode and usage goes to the disk spool, never a 500
(issue 12, item 7).

A small proxy stands between the gateway and the real Redis: it relays commands until it is
switched to loading, then answers every command with the error a loading Redis sends.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hiredis
import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth import hash_key
from gateway.quota.redis_store import tenant_base
from tests.ledger_db import metering_section
from tests.servers import free_port
from tests.unit.conftest import FakeEngines, make_settings

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
VAULT_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
LOADING = b"-LOADING Redis is loading the dataset in memory\r\n"


class LoadingProxy:
    """Relays to the real Redis; while ``loading`` is set, answers LOADING to each command."""

    def __init__(self) -> None:
        self.port = free_port()
        self.loading = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> LoadingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(REDIS_HOST, REDIS_PORT)
        commands = hiredis.Reader()

        async def downstream() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()

        relay = asyncio.create_task(downstream())
        try:
            while data := await reader.read(65536):
                if not self.loading:
                    up_writer.write(data)
                    continue
                commands.feed(data)
                while commands.gets() is not False:
                    writer.write(LOADING)
                await writer.drain()
        finally:
            relay.cancel()
            up_writer.close()
            writer.close()


@pytest.fixture
def proxy() -> Iterator[LoadingProxy]:
    with LoadingProxy() as running:
        yield running


def _gateway(proxy: LoadingProxy, tmp_path: Path, mode: str) -> tuple[Any, str, str]:
    tenant = f"loading-{uuid.uuid4().hex[:8]}"
    key = f"sk-{tenant}"
    settings = make_settings(
        store={
            "redis_url": f"redis://127.0.0.1:{proxy.port}/0",
            "jurisdiction": "DE",
            "operator": "test",
            "retry_after_failure": 0.0,
        },
        security={"pseudonym_key": VAULT_KEY},
        telemetry={
            "allowed_jurisdictions": ["DE", "AT"],
            "audit_dir": str(tmp_path / "audit"),
            "flush_interval_ms": 0,
        },
        metering=metering_section(spool_dir=str(tmp_path / "spool")),
        tenants=[
            {
                "id": tenant,
                "degraded_mode": mode,
                "limits": {"requests_per_minute": 100, "concurrent": 4},
                "api_keys": [{"id": tenant, "hash": hash_key(key)}],
            }
        ],
    )
    return create_app(settings, upstream_transport=httpx.MockTransport(FakeEngines())), tenant, key


def _cleanup(tenant: str) -> None:
    client = redis.Redis(REDIS_HOST, REDIS_PORT)
    for found in client.scan_iter(match=f"{tenant_base(tenant)}:*"):
        client.delete(found)
    client.close()


CHAT = {"model": "smollm2", "messages": [{"role": "user", "content": "Hallo"}]}


@pytest.mark.parametrize(("mode", "status"), [("fail_closed", 503), ("fail_open", 200)])
def test_a_loading_redis_is_the_degraded_mode_never_a_500(
    proxy: LoadingProxy, tmp_path: Path, mode: str, status: int
) -> None:
    app, tenant, key = _gateway(proxy, tmp_path, mode)
    headers = {"authorization": f"Bearer {key}"}
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert (
                client.post("/v1/chat/completions", json=CHAT, headers=headers).status_code == 200
            )
            proxy.loading = True
            for _ in range(3):
                response = client.post("/v1/chat/completions", json=CHAT, headers=headers)
                assert response.status_code == status, response.text
                if status == 503:
                    assert response.json()["error"]["code"] == "quota_store_unavailable"
            proxy.loading = False
        spooled = list((tmp_path / "spool").glob("*"))
        if mode == "fail_open":  # served while Redis was loading: their usage waits on disk
            assert any(p.stat().st_size for p in spooled)
    finally:
        _cleanup(tenant)
