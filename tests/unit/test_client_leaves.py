"""A client that stops waiting for a whole answer stops the engine (``abort``, the default),
or lets it finish for nobody (``finish``, per tenant or for the gateway); issue 14.

Against a real uvicorn server: only a real server reports a client that went away. The fake
engine is a handler that takes its time; it is cancelled when the gateway closes its
connection, as vLLM aborts a request whose connection closed.
"""

from __future__ import annotations

import threading
from collections.abc import MutableMapping
from typing import Any

import anyio
import httpx
import pytest
from structlog.testing import capture_logs

from gateway.metering import estimate
from tests.servers import gateway_thread
from tests.unit.conftest import CHAT, FakeEngines, auth, chat_ok, make_settings


class SlowEngine(FakeEngines):
    """Answers after ``seconds``, noting whether it finished or was stopped."""

    def __init__(self, seconds: float) -> None:
        super().__init__(self._answer)  # type: ignore[arg-type]  # async: MockTransport awaits it
        self.seconds = seconds
        self.started = threading.Event()
        self.stopped = threading.Event()
        self.finished = threading.Event()

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        self.started.set()
        try:
            await anyio.sleep(self.seconds)
        except BaseException:
            self.stopped.set()
            raise
        self.finished.set()
        return chat_ok(request)


def _settings(gateway_mode: str | None, tenant_mode: str | None) -> Any:
    settings = make_settings(
        privacy={"default_policy": None},
        telemetry={"allowed_jurisdictions": ["DE", "AT"], "flush_interval_ms": 0},
    )
    tenants = [
        t.model_copy(update={"on_client_disconnect": tenant_mode}) if t.id == "acme-de" else t
        for t in settings.tenants
    ]
    metering = settings.metering
    if gateway_mode is not None:
        metering = metering.model_copy(update={"on_client_disconnect": gateway_mode})
    return settings.model_copy(update={"tenants": tenants, "metering": metering})


def _leave_after(base_url: str, seconds: float) -> None:
    with (
        httpx.Client(base_url=base_url, timeout=seconds) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 200}, headers=auth())


def _completed(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == "request.completed"]


@pytest.mark.parametrize(("gateway_mode", "tenant_mode"), [(None, None), ("finish", "abort")])
def test_a_client_that_stops_waiting_stops_the_engine(
    gateway_mode: str | None, tenant_mode: str | None
) -> None:
    engine = SlowEngine(30)
    with (
        capture_logs() as logs,
        gateway_thread(_settings(gateway_mode, tenant_mode), httpx.MockTransport(engine)) as url,
    ):
        _leave_after(url, 0.5)
        assert engine.stopped.wait(5), "the engine kept working for a client that left"
        for _ in range(50):
            if _completed(logs):
                break
            threading.Event().wait(0.1)
    assert not engine.finished.is_set()
    [record] = _completed(logs)
    assert (record["status"], record["http_status"]) == ("aborted", 499)
    assert record["jurisdiction"] == "DE"  # where the request went, for the record
    # vLLM reports usage only with a whole answer: the prompt as estimated, nothing generated.
    prompt = estimate.prompt_tokens({**CHAT, "max_tokens": 200})
    assert (record["prompt_tokens"], record["completion_tokens"]) == (prompt, 0)


@pytest.mark.parametrize(("gateway_mode", "tenant_mode"), [("finish", None), (None, "finish")])
def test_finish_lets_the_engine_complete_and_meters_what_it_did(
    gateway_mode: str | None, tenant_mode: str | None
) -> None:
    engine = SlowEngine(1.5)
    with (
        capture_logs() as logs,
        gateway_thread(_settings(gateway_mode, tenant_mode), httpx.MockTransport(engine)) as url,
    ):
        _leave_after(url, 0.5)
        assert engine.finished.wait(5)
        for _ in range(50):
            if _completed(logs):
                break
            threading.Event().wait(0.1)
    assert not engine.stopped.is_set()
    [record] = _completed(logs)
    assert (record["status"], record["prompt_tokens"], record["completion_tokens"]) == ("ok", 5, 2)
