"""The HTTP server under the app: uvicorn, with the limits on request heads it lacks.

Why a protocol of our own: uvicorn's httptools protocol (the fast one, with uvloop) puts no
bound on the number or the size of a request's headers (httptools gathers a header value in
memory until it ends: 10,000 headers or 100 MB values were accepted before authentication),
and no time limit on receiving them: a client that sends half a request head and stalls
holds its connection forever (its keep-alive timer runs only between requests). This
subclass adds, per connection and before any request reaches the app:

- a cap on the header count and on the head's bytes, answered with the OpenAI-style 431 and
  a close. The bytes received while a head is incomplete are counted as they arrive, so no
  more than the limit plus one socket read is ever held; the head's lines are counted too
  (URL, names, values and their framing), so a head that arrives in one read is held to
  the same limit;
- a deadline for the whole head (``header_read_timeout``), from the connection or from the
  first byte of the next request on a kept-alive one: a 408 and a close if it passes;
- the keep-alive timeout between requests (uvicorn's own, set from the settings).

It is kept small and apart from the app so that another server (granian, say) can be
weighed against it: what it must offer is exactly this list.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import Any

import httptools
import uvicorn
from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess

from gateway.errors import GatewayError, HeaderFieldsTooLarge, RequestTimeout
from gateway.http_errors import raw_response
from gateway.settings import ServerSettings


@dataclass(frozen=True, slots=True)
class HeadLimits:
    max_count: int = 100
    max_bytes: int = 32 * 1024
    read_timeout: float = 10.0


class GatewayConfig(Config):
    """uvicorn's configuration, with the head limits for the protocol to read: the config is
    what uvicorn hands each connection's protocol, and what it sends to worker processes."""

    def __init__(self, app: Any, *, head_limits: HeadLimits, **options: Any) -> None:
        super().__init__(app, http=LimitedHttpToolsProtocol, **options)
        self.head_limits = head_limits


def server_config(app: Any, server: ServerSettings, **options: Any) -> GatewayConfig:
    """The server for ``app`` (an ASGI app, or an import string with ``factory=True``)."""
    limits = HeadLimits(
        server.max_header_count, server.max_header_bytes, server.header_read_timeout
    )
    return GatewayConfig(
        app,
        head_limits=limits,
        host=server.host,
        port=server.port,
        workers=server.workers,
        timeout_keep_alive=server.keep_alive_timeout,
        log_level="warning",
        **options,
    )


def run_server(config: GatewayConfig) -> None:
    """What ``uvicorn.run`` does with a config it builds itself, with ours instead."""
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server.run()
    except KeyboardInterrupt:
        pass
    if config.workers == 1 and not server.started:
        sys.exit(STARTUP_FAILURE)


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing: the refusal was already sent."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = config.head_limits if isinstance(config, GatewayConfig) else HeadLimits()
        self._in_head = True  # awaiting or reading a request head (not in a body)
        self._received = 0  # bytes received while in this head: what is held in memory
        self._head_bytes = 0  # its URL and header lines, as the parser delivers them
        self._header_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """uvicorn's, plus the head's byte count and deadline; a refusal of ours is not
        reported as an invalid request."""
        if self._refused:
            return
        self._unset_keepalive_if_required()
        if self._in_head:
            self._received += len(data)
            if self._head_timer is None:
                self._arm_head_timer()  # the first byte of the next request
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refused:
                return
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head and self._received > self._limits.max_bytes:
            self._refuse(_too_large(self._limits))

    # Parser callbacks

    def on_message_begin(self) -> None:
        self._head_bytes = self._header_count = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self._limits.max_count:
            self._refuse(_too_large(self._limits))
            raise _Refused
        self._count_head(len(name) + len(value) + 3)  # "name:value" and its line end
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        self._received = 0
        super().on_message_complete()

    # Limits

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self._limits.max_bytes:
            self._refuse(_too_large(self._limits))
            raise _Refused

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self._limits.read_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head behind a response still being sent: its turn has not come.
            self._arm_head_timer()
            return
        started = self._received > 0  # silent since connecting: nothing to answer
        self._refuse(_timed_out(self._limits) if started else None)

    def _refuse(self, error: GatewayError | None) -> None:
        """Answer ``error`` (if there is no response in flight to interleave with) and
        close; nothing more is read from this connection."""
        self._refused = True
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        if error is not None and (self.cycle is None or self.cycle.response_complete):
            self.transport.write(raw_response(error))
        self.transport.close()


def _too_large(limits: HeadLimits) -> HeaderFieldsTooLarge:
    return HeaderFieldsTooLarge(
        f"The request headers exceed the server's limits ({limits.max_count} headers, "
        f"{limits.max_bytes} bytes)."
    )


def _timed_out(limits: HeadLimits) -> RequestTimeout:
    return RequestTimeout(
        f"The request head did not arrive within {limits.read_timeout:g} seconds."
    )
