"""The streaming response: relays SSE events one by one and owns the upstream stream.

Starlette's ``StreamingResponse`` does not close its iterator when the client goes away while
the iterator is suspended, which would leave the engine generating for nobody. This response
watches for ``http.disconnect`` while relaying, and then either stops at once and closes the
engine stream (``abort``: vLLM aborts the request) or stops sending and reads the engine's
answer to its end (``finish``: exact metering of what was generated). Either way the source
is closed, shielded from cancellation, exactly once: that is where the request is metered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import anyio
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send


class RelaySource(Protocol):
    finish_on_disconnect: bool

    def events(self) -> AsyncIterator[bytes]: ...

    async def aclose(self, *, client_gone: bool = False) -> None: ...


class RelayResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self, source: RelaySource, headers: Mapping[str, str], status_code: int = 200
    ) -> None:
        self.source = source
        self.status_code = status_code
        self.background = None
        self.client_gone = False
        # Whether the client missed part of the answer: it left before the last event.
        self.cut_short = False
        self.init_headers({**headers, "cache-control": "no-cache", "x-accel-buffering": "no"})

    async def _send(self, send: Send, message: Message) -> None:
        if self.client_gone:
            self.cut_short = self.cut_short or bool(message.get("body"))
            return
        try:
            await send(message)
        except OSError:  # the client went away while we were sending
            self.client_gone = True
            self.cut_short = self.cut_short or bool(message.get("body"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relayed_all = False
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._watch_disconnect, receive, group.cancel_scope)
                await self._send(
                    send,
                    {
                        "type": "http.response.start",
                        "status": self.status_code,
                        "headers": self.raw_headers,
                    },
                )
                async for event in self.source.events():
                    if self.client_gone and not self.source.finish_on_disconnect:
                        break
                    await self._send(
                        send, {"type": "http.response.body", "body": event, "more_body": True}
                    )
                else:
                    relayed_all = True
                await self._send(send, {"type": "http.response.body", "body": b""})
                group.cancel_scope.cancel()
        finally:
            left_early = self.client_gone and (self.cut_short or not relayed_all)
            with anyio.CancelScope(shield=True):
                await self.source.aclose(client_gone=left_early)

    async def _watch_disconnect(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.client_gone = True
                if not self.source.finish_on_disconnect:
                    scope.cancel()
                return
