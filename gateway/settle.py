"""What an admitted request reserved is settled however the request ends.

Admission reserves (a token charge, a concurrency lease, a monthly reservation) and the
request's record settles it, exactly once. The request path hands the settlement on as the
request moves (the recorder, then the answer or the stream that meters it), and normally the
last holder settles. This is the net under all of them: a pure ASGI middleware that gives
each HTTP request a ``Settlement`` and, when the app is done with the request (answered,
raised, cancelled, or the client left), runs whatever is still registered, newest first,
shielded from cancellation. Each action is idempotent, so running one that already ran is
harmless; what is never left is a charge or a lease of a request that has ended.

A replica that dies takes its net with it: ``gateway/quota/pending.py`` covers that.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

log = structlog.get_logger("gateway.settle")

Action = Callable[[], Awaitable[None]]


class Settlement:
    """The settling actions registered for one request."""

    __slots__ = ("_actions",)

    def __init__(self) -> None:
        self._actions: list[Action] = []

    def on_exit(self, action: Action) -> None:
        self._actions.append(action)

    async def run(self) -> None:
        while self._actions:
            action = self._actions.pop()
            try:
                await action()
            except Exception:  # the next action must still run
                log.exception("settlement_failed")


class SettleMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settlement = Settlement()
        scope.setdefault("state", {})["settlement"] = settlement
        try:
            await self.app(scope, receive, send)
        finally:
            if settlement._actions:
                with anyio.CancelScope(shield=True):
                    await settlement.run()
