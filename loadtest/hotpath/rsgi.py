"""The bare endpoint on granian's RSGI: the body with ``await protocol()``, a whole answer
with ``response_bytes``, a stream with ``response_stream(...).send_bytes`` per event.

A client that leaves mid-stream stops the relay as ``RelayResponse`` does on ASGI: a waiter
on ``client_disconnect()`` cancels the relaying task, and the engine stream is closed in
``finally`` (shielded), so the engine stops generating for nobody.
"""

from __future__ import annotations

import asyncio
from typing import Any

from granian._granian import RSGIHTTPProtocol as HTTPProtocol
from granian._granian import RSGIProtocolClosed as ProtocolClosed
from granian._granian import RSGIProtocolError as ProtocolError
from granian.rsgi import Scope

from gateway.errors import GatewayError, NotFound, render_json
from loadtest.hotpath.apps import Config
from loadtest.hotpath.bodies import PATH
from loadtest.hotpath.relaying import Relay, StreamSource
from loadtest.hotpath.validation import PREPARE

_JSON = [("content-type", "application/json")]
_SSE = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]


class RsgiApp:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._prepare = PREPARE[config.validation]
        self._relay: Relay | None = None

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        async def start() -> Relay:
            return self._config.relay()

        self._relay = loop.run_until_complete(start())

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._relay is not None:
            loop.run_until_complete(self._relay.upstream.aclose())

    async def __rsgi__(self, scope: Scope, protocol: HTTPProtocol) -> None:
        if scope.proto != "http":
            return
        if scope.method != "POST" or scope.path != PATH:
            _error(protocol, NotFound("Unknown request URL."))
            return
        relay = self._relay
        assert relay is not None
        try:
            prepared = self._prepare(await protocol())
            if not prepared.stream:
                protocol.response_bytes(200, _JSON, await relay.whole(prepared.forward))
                return
            source = await relay.stream(prepared.forward)
        except GatewayError as exc:
            _error(protocol, exc)
            return
        await _relay_stream(protocol, source)


async def _relay_stream(protocol: HTTPProtocol, source: StreamSource) -> None:
    transport = protocol.response_stream(200, _SSE)
    task = asyncio.current_task()
    assert task is not None

    def client_gone(_: Any) -> None:
        task.cancel()

    gone = asyncio.ensure_future(protocol.client_disconnect())
    gone.add_done_callback(client_gone)
    try:
        async for event in source.events():
            await transport.send_bytes(event)
    except asyncio.CancelledError:
        if not gone.done():
            raise  # not the client leaving: someone else's cancellation
        task.uncancel()
    except (ProtocolClosed, ProtocolError):
        pass  # the client went away while we were sending
    finally:
        left = gone.done()
        gone.remove_done_callback(client_gone)
        gone.cancel()
        await asyncio.shield(source.aclose(client_gone=left))


def _error(protocol: HTTPProtocol, exc: GatewayError) -> None:
    headers = [*_JSON, *exc.headers.items()]
    protocol.response_bytes(exc.status, headers, render_json(exc))
