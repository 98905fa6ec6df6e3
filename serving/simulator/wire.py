"""ASGI plumbing shared by the handlers: types, body reading, responses, dropped connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = b"application/json"
EVENT_STREAM = b"text/event-stream; charset=utf-8"


class DropConnection(Exception):
    """Raised after a response started: uvicorn then closes the socket mid-answer.

    That is how the simulator makes a crash or a scripted disconnect look like a dying
    engine to the client: headers, perhaps some tokens, then the connection ends without a
    complete body (no final chunk, no ``[DONE]``). The host filters it out of uvicorn's logs.
    """


@dataclass(frozen=True)
class Request:
    scope: Scope
    receive: Receive
    send: Send

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return bytes(value).decode("latin-1")
        return None


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def start(send: Send, status: int, content_type: bytes | str | None = JSON) -> None:
    headers: list[tuple[bytes, bytes]] = []
    if content_type is not None:
        kind = content_type.encode() if isinstance(content_type, str) else content_type
        headers.append((b"content-type", kind))
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def send_bytes(
    send: Send, status: int, body: bytes, content_type: bytes | str | None = JSON
) -> int:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type is not None:
        kind = content_type.encode() if isinstance(content_type, str) else content_type
        headers.append((b"content-type", kind))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
    return status


async def drop(send: Send, *, started: bool) -> NoReturn:
    """End the connection without a complete answer (see DropConnection)."""
    if not started:  # uvicorn would answer 500 to an exception before the response started
        await start(send, 200)
    raise DropConnection


async def watch_disconnect(receive: Receive, on_disconnect: Callable[[], None]) -> None:
    """Run beside a handler whose body was read: the next message can only be a disconnect."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            on_disconnect()
            return
