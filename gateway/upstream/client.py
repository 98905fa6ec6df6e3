"""The one httpx client to the engines, with explicit limits and timeouts from the settings."""

from __future__ import annotations

import httpx

from gateway.settings import UpstreamSettings
from gateway.upstream.transport import EngineTransport


def build_client(
    settings: UpstreamSettings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    timeout = httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.read_timeout,
        write=settings.write_timeout,
        pool=settings.pool_timeout,
    )
    limits = httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=settings.max_keepalive_connections,
        keepalive_expiry=settings.keepalive_expiry,
    )
    if transport is None:
        # trust_env=False: no proxy from the environment may silently carry traffic elsewhere.
        transport = EngineTransport(limits=limits, trust_env=False)
    return httpx.AsyncClient(
        timeout=timeout, limits=limits, transport=transport, trust_env=False, follow_redirects=False
    )
