"""An error nothing expected: the OpenAI-style 500, logged with the request id, and the
client's keep-alive connection survives it (issue 12: every 500 used to drop it).

Against a real uvicorn server: only a real server shows what happens to the connection.
"""

from __future__ import annotations

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.testing import capture_logs

from gateway.http_errors import CatchAll
from tests.servers import gateway_thread
from tests.unit.conftest import CHAT, FakeEngines, auth, chat_ok, make_settings


def _local_port(response: httpx.Response) -> int:
    """The client side's port of the connection the response came on."""
    port: int = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    return port


def test_an_unexpected_error_is_an_openai_500_and_the_connection_stays_alive() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        # Not an httpx error: nothing on the request path expects it (a bug, seen as such).
        raise RuntimeError("secret internals: a bug in the transport")

    engines = FakeEngines(broken)
    settings = make_settings(privacy={"default_policy": None})
    with (
        gateway_thread(settings, httpx.MockTransport(engines)) as base_url,
        httpx.Client(base_url=base_url, timeout=10) as client,
        capture_logs() as logs,
    ):
        failed = client.post("/v1/chat/completions", json=CHAT, headers=auth())
        first_port = _local_port(failed)
        engines.handler = chat_ok
        ok = client.post("/v1/chat/completions", json=CHAT, headers=auth())
        second_port = _local_port(ok)

    assert failed.status_code == 500
    error = failed.json()["error"]
    assert error["type"] == "api_error"
    assert error["code"] == "internal_error"
    assert "secret" not in error["message"]
    assert failed.headers["content-type"] == "application/json"
    assert ok.status_code == 200
    assert second_port == first_port, "the 500 closed the keep-alive connection"
    request_id = failed.headers["x-request-id"]
    logged = [e for e in logs if e["event"] == "unhandled_error"]
    assert [e["request_id"] for e in logged] == [request_id]
    assert logged[0]["log_level"] == "error"


async def _run(app: ASGIApp) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "state": {"request_id": "req_test"}}
    await CatchAll(app)(scope, receive, send)
    return sent


async def test_an_error_after_the_whole_response_is_only_logged() -> None:
    """Work after the answer (metering, say) fails: the client has its answer already, and
    its connection stays open."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        raise RuntimeError("after the answer")

    with capture_logs() as logs:
        sent = await _run(app)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert [e["event"] for e in logs] == ["unhandled_error_after_response"]


async def test_an_error_half_way_through_a_response_is_raised_to_close_the_connection() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{", "more_body": True})
        raise RuntimeError("mid-answer")

    with capture_logs() as logs, pytest.raises(RuntimeError, match="mid-answer"):
        await _run(app)
    assert [e["event"] for e in logs] == ["unhandled_error_mid_response"]
