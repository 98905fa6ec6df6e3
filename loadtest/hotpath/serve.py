"""One relay process: a variant's app on its server, with the head limits the gateway sets.

    python -m loadtest.hotpath.serve VARIANT --port P --engine URL [--header-timeout S]

uvicorn runs exactly as the gateway runs it (``gateway.server.GatewayConfig``: our httptools
protocol with the head limits, uvloop). granian runs with the nearest settings it has:
HTTP/1 only, ``header_read_timeout``, ``max_buffer_size`` from the head-bytes limit, one
worker process forked from this one (the app object is inherited, not imported).
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from gateway.server import GatewayConfig, HeadLimits
from loadtest.hotpath import floor
from loadtest.hotpath.apps import ASGI_APPS, Config
from loadtest.hotpath.variants import Variant


def build_app(variant: Variant, engine: str) -> Any:
    config = Config(engine, variant.client, variant.validation, variant.mode)
    if variant.server == "granian-rsgi":
        from loadtest.hotpath.rsgi import RsgiApp  # granian is a [loadtest] extra

        return RsgiApp(config)
    return ASGI_APPS[variant.routing](config)


def run(variant: Variant, engine: str, port: int, limits: HeadLimits, keep_alive: float) -> None:
    if variant.server in ("floor", "callback"):
        floor.run(port, engine, checked=variant.server == "callback")
        return
    app = build_app(variant, engine)
    if variant.server == "uvicorn":
        config = GatewayConfig(
            app,
            head_limits=limits,
            host="127.0.0.1",
            port=port,
            timeout_keep_alive=keep_alive,
            log_level="warning",
        )
        uvicorn.Server(config).run()
        return
    run_granian(app, variant.server == "granian-rsgi", port, limits)


def run_granian(app: Any, rsgi: bool, port: int, limits: HeadLimits) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    settings = HTTP1Settings(
        # Also the idle keep-alive timeout: hyper starts it when it waits for a head.
        header_read_timeout=int(limits.read_timeout * 1000),
        keep_alive=True,
        # hyper's read buffer: a head must fit it (plus one read); at least 8 KiB.
        max_buffer_size=max(8192, limits.max_bytes),
    )
    server = Server(
        "hotpath",
        address="127.0.0.1",
        port=port,
        interface=Interfaces.RSGI if rsgi else Interfaces.ASGI,
        workers=1,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=settings,
        log_level=LogLevels.warning,
    )
    server.serve(target_loader=lambda *_: app, wrap_loader=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.hotpath.serve")
    parser.add_argument("variant", type=Variant.parse)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--engine", required=True, help="engine base URL")
    parser.add_argument("--max-header-count", type=int, default=100)
    parser.add_argument("--max-header-bytes", type=int, default=32 * 1024)
    parser.add_argument("--header-timeout", type=float, default=10.0)
    parser.add_argument("--keep-alive", type=float, default=5.0)
    args = parser.parse_args(argv)
    limits = HeadLimits(args.max_header_count, args.max_header_bytes, args.header_timeout)
    run(args.variant, args.engine, args.port, limits, args.keep_alive)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
