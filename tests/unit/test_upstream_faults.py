"""Engines that break the protocol: redirects, other unexpected statuses, bodies that are not
what the endpoint speaks. Each becomes an OpenAI error, and the request is metered once, as
failed (issue 12).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.core.usage import UsageRecord
from gateway.resources import Resources
from gateway.routing.breaker import BreakerState
from tests.unit.conftest import CHAT, FakeEngines, auth, chat_ok, make_settings

GOOD = b'data: {"choices":[{"index":0,"delta":{"content":"Hal"}}]}\n\n'
USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1}}\n\n'
DONE = b"data: [DONE]\n\n"
SSE = {"content-type": "text/event-stream; charset=utf-8"}
STREAM = {**CHAT, "stream": True}


class Gateway:
    def __init__(self, client: TestClient) -> None:
        self.client = client

    @property
    def resources(self) -> Resources:
        resources: Resources = self.client.app_state["resources"]
        return resources

    def ledger(self) -> list[UsageRecord]:
        portal = self.client.portal
        assert portal is not None
        portal.call(self.resources.observability.flush)
        return portal.call(self.resources.metering.usage, "acme-de", 0.0, time.time() + 60)

    def stream(self) -> tuple[int, str, bytes]:
        with self.client.stream(
            "POST", "/v1/chat/completions", json=STREAM, headers=auth()
        ) as response:
            body = b"".join(response.iter_bytes())
        return response.status_code, response.headers["content-type"], body


@contextmanager
def _gateway(engines: FakeEngines, policy: str | None) -> Iterator[Gateway]:
    settings = make_settings(privacy={"default_policy": policy})
    app = create_app(settings, upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as client:
        yield Gateway(client)


@pytest.fixture
def gateway(engines: FakeEngines) -> Iterator[Gateway]:
    with _gateway(engines, None) as running:
        yield running


@pytest.fixture
def guarded(engines: FakeEngines) -> Iterator[Gateway]:
    """The default GDPR policy: its response rules parse every streamed event."""
    with _gateway(engines, "gdpr-default") as running:
        yield running


def _sse(*events: bytes) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        for event in events:
            yield event

    return httpx.Response(200, headers=SSE, content=body())


def redirect(request: httpx.Request) -> httpx.Response:
    return httpx.Response(307, headers={"location": "http://us-east.example/v1/chat/completions"})


def _assert_one_failed_record(gateway: Gateway, http_status: int) -> None:
    records = gateway.ledger()
    assert [(r.status, r.http_status) for r in records] == [("failed", http_status)]


# Redirects and other statuses an engine must not answer with.


def test_an_engine_redirect_is_a_502_never_followed(gateway: Gateway, engines: FakeEngines) -> None:
    engines.handler = redirect
    response = gateway.client.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert response.status_code == 502
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("api_error", "upstream_error")
    assert "redirect" in error["message"]
    assert "us-east" not in error["message"]  # where it pointed is not the client's business
    assert {r.url.host for r in engines.requests} <= {"de-1.engine", "de-2.engine"}
    _assert_one_failed_record(gateway, 502)


def test_a_redirect_fails_over_to_another_engine_in_the_jurisdiction(
    gateway: Gateway, engines: FakeEngines
) -> None:
    engines.handler = lambda r: redirect(r) if r.url.host == "de-1.engine" else chat_ok(r)
    for _ in range(4):
        response = gateway.client.post("/v1/chat/completions", json=CHAT, headers=auth())
        assert response.status_code == 200  # nothing was produced: the other engine took it
    assert "at-1.engine" not in engines.hosts


def test_repeated_redirects_open_the_engines_circuit(
    gateway: Gateway, engines: FakeEngines
) -> None:
    engines.handler = redirect
    for _ in range(3):
        gateway.client.post("/v1/chat/completions", json=CHAT, headers=auth())
    states = {e.url: b.state for e, b in _breakers(gateway)}
    assert states["http://de-1.engine:8000"] is BreakerState.OPEN
    assert states["http://de-2.engine:8000"] is BreakerState.OPEN


@pytest.mark.parametrize("status", [101, 204, 304])
def test_other_non_error_statuses_are_502(
    gateway: Gateway, engines: FakeEngines, status: int
) -> None:
    engines.handler = lambda request: httpx.Response(status)
    response = gateway.client.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert response.status_code == 502
    assert response.json()["error"]["code"] in {"upstream_error", "upstream_invalid_response"}


def test_a_streamed_redirect_is_a_502_not_an_empty_200(
    gateway: Gateway, engines: FakeEngines
) -> None:
    engines.handler = redirect
    status, content_type, body = gateway.stream()
    assert status == 502
    assert content_type == "application/json"
    assert b'"code":"upstream_error"' in body
    _assert_one_failed_record(gateway, 502)


# Non-streamed answers that are not JSON.


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html>proxy login</html>"),
        ("application/json", b'{"id": "chatcmpl-1", "choices": [tru'),
        ("application/json", b"[1, 2]"),
        ("application/json", b""),
        (None, b'{"id": "chatcmpl-1"}'),
    ],
)
@pytest.mark.parametrize("policy", [None, "gdpr-default"])
def test_a_non_json_answer_is_a_502_with_or_without_a_policy(
    engines: FakeEngines, content_type: str | None, body: bytes, policy: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    engines.handler = lambda request: httpx.Response(200, headers=headers, content=body)
    with _gateway(engines, policy) as gateway:
        response = gateway.client.post("/v1/chat/completions", json=CHAT, headers=auth())
        assert response.status_code == 502
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("api_error", "upstream_invalid_response")
        assert b"proxy login" not in response.content
        _assert_one_failed_record(gateway, 502)


def test_repeated_invalid_answers_open_the_engines_circuit(
    gateway: Gateway, engines: FakeEngines
) -> None:
    engines.handler = lambda request: httpx.Response(
        200, headers={"content-type": "text/html"}, content=b"<html></html>"
    )
    for _ in range(6):
        gateway.client.post("/v1/chat/completions", json=CHAT, headers=auth())
    states = {e.url: b.state for e, b in _breakers(gateway)}
    assert states["http://de-1.engine:8000"] is BreakerState.OPEN
    assert states["http://de-2.engine:8000"] is BreakerState.OPEN


def _breakers(gateway: Gateway) -> list[tuple[Any, Any]]:
    resources = gateway.resources
    return [(e, resources.router.breakers.for_engine(e)) for e in resources.topology.engines]


# Streams that are not OpenAI server-sent events.


def test_a_stream_answered_with_json_is_a_502_before_anything_is_sent(
    gateway: Gateway, engines: FakeEngines
) -> None:
    engines.handler = chat_ok  # the engine ignored "stream": true
    status, content_type, body = gateway.stream()
    assert status == 502
    assert content_type == "application/json"
    assert b'"code":"upstream_invalid_response"' in body
    _assert_one_failed_record(gateway, 502)


@pytest.mark.parametrize(
    "bad",
    [b"data: <html>oops</html>\n\n", b"event: ping\n\n", b"garbage without an end"],
)
def test_a_malformed_event_after_the_start_ends_the_stream_with_an_error_event(
    gateway: Gateway, engines: FakeEngines, bad: bytes
) -> None:
    engines.handler = lambda request: _sse(GOOD, bad, GOOD, USAGE, DONE)
    status, _, body = gateway.stream()
    assert status == 200  # sent before the bad event arrived
    assert body.startswith(GOOD)
    for relayed in (b"oops", b"ping", b"garbage"):
        assert relayed not in body
    error = body[len(GOOD) :]
    assert error.startswith(b'data: {"error":')
    assert b'"code":"upstream_invalid_response"' in error
    assert error.count(b"\n\n") == 1  # the stream ended there
    assert error.endswith(b"\n\n")
    _assert_one_failed_record(gateway, 200)


def test_a_stream_that_ends_without_done_ends_with_an_error_event(
    gateway: Gateway, engines: FakeEngines
) -> None:
    engines.handler = lambda request: _sse(GOOD)
    status, _, body = gateway.stream()
    assert status == 200
    assert body.startswith(GOOD)
    assert b'data: {"error":' in body
    assert DONE not in body
    _assert_one_failed_record(gateway, 200)


def test_an_empty_stream_is_an_error_event_not_an_empty_200(
    gateway: Gateway, engines: FakeEngines
) -> None:
    engines.handler = lambda request: _sse()
    status, _, body = gateway.stream()
    assert status == 200
    assert body.startswith(b'data: {"error":')
    _assert_one_failed_record(gateway, 200)


def test_an_event_whose_json_is_broken_is_an_error_event_under_a_policy(
    guarded: Gateway, engines: FakeEngines
) -> None:
    # The response rules parse each event anyway: that is where the JSON is checked.
    engines.handler = lambda request: _sse(GOOD, b'data: {"choices": [tru\n\n', USAGE, DONE)
    status, _, body = guarded.stream()
    assert status == 200
    assert b'data: {"error":' in body
    assert b'"code":"upstream_invalid_response"' in body
    assert DONE not in body
    _assert_one_failed_record(guarded, 200)


def test_a_well_formed_stream_still_passes_untouched(
    gateway: Gateway, engines: FakeEngines
) -> None:
    coalesced = GOOD + GOOD  # two events in one chunk: each is checked
    engines.handler = lambda request: _sse(GOOD, coalesced, USAGE + DONE)
    status, _, body = gateway.stream()
    assert status == 200
    assert body == GOOD + coalesced + DONE  # the usage event is dropped: not asked for
    assert [r.status for r in gateway.ledger()] == ["ok"]
