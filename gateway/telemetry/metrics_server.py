"""Prometheus ``GET /metrics`` on its own port, served from the gateway's event loop.

The metrics get their own listener so that the API port never exposes them (tenant ids and
engine addresses are for the operator's Prometheus, not for API clients) and so that a
network policy can open the one port to the one scraper.

Why an aiohttp ``AppRunner`` (aiohttp is already a dependency, for the upstream transport)
rather than a second ``uvicorn.Server``: a uvicorn server installs its own SIGINT/SIGTERM
handlers while it runs, taking them from the main server, and calls ``sys.exit`` when it
cannot bind; an ``AppRunner`` touches no signals, raises ``OSError`` from :meth:`start` on a
busy port, and stops with one awaited call. And rather than ``start_http_server``: no extra
thread, and only ``/metrics`` is served (that one answers on every path).

Rendering the exposition runs in the event loop: a few hundred series take well under a
millisecond, once per scrape interval.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder

# A scrape finishes in milliseconds; stopping must not wait for a slow scraper for long.
_SHUTDOWN_TIMEOUT_S = 2.0


class MetricsServer:
    """Serves a registry as ``GET /metrics``; usable as ``async with MetricsServer(...)``."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry = REGISTRY) -> None:
        self._host = host
        self._port = port
        self._registry = registry
        self._running = False
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)  # HEAD too; anything else: 404 or 405
        # No access log: a scrape every few seconds is noise.
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=_SHUTDOWN_TIMEOUT_S
        )

    @property
    def port(self) -> int:
        """The bound port (the one the OS chose when constructed with port 0)."""
        for address in self._runner.addresses:
            port: int = address[1]
            return port
        raise RuntimeError("the metrics server is not started")

    async def start(self) -> None:
        """Listen; returns once the port is bound (``OSError`` if it cannot be)."""
        await self._runner.setup()
        self._running = True
        try:
            await web.TCPSite(self._runner, self._host, self._port).start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close the listener and its connections; idempotent."""
        if self._running:
            self._running = False
            await self._runner.cleanup()

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _metrics(self, request: web.Request) -> web.Response:
        # The text format by default; OpenMetrics when the scraper asks for it.
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(self._registry), headers={"Content-Type": content_type})


async def serve_metrics(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> None:
    """Serve ``registry`` on ``host:port`` until cancelled; the port is closed on the way out.

    For a lifespan: ``task = asyncio.create_task(serve_metrics(host, port))`` at the start,
    ``task.cancel()`` and ``await`` it (it ends with ``CancelledError``) at the end. Where the
    start must fail loudly on a busy port, ``async with MetricsServer(host, port):`` instead.
    """
    async with MetricsServer(host, port, registry):
        await asyncio.Event().wait()
