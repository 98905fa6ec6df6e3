"""The forwarder's attempts: failover on connect errors and 5xx, never on 4xx or timeouts;
open circuits are skipped; a full engine makes a request wait until its deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from gateway.errors import GatewayError, RateLimited, UpstreamStatusError, UpstreamTimeout
from gateway.routing.build import build_router
from gateway.routing.view import RouteContext
from gateway.settings import Settings
from gateway.topology import Tenant, Topology
from gateway.upstream.engines import HttpxEngines
from gateway.upstream.forwarder import JSON, Forwarder
from tests.unit.conftest import IDLE_METRICS

TENANT = Tenant("t", frozenset({"DE"}), None)
CTX = RouteContext(tenant="t", model="m")
Answer = Callable[[httpx.Request], httpx.Response]


def _settings(**routing: Any) -> Settings:
    pool = {"name": "de", "jurisdiction": "DE", "site": "de-1", "models": ["m"],
            "engines": ["http://a.de:1", "http://b.de:1"], "max_concurrency": 1}  # fmt: skip
    return Settings(pools=[pool], routing={"strategy": "round_robin", **routing})


class Engines:
    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers
        self.posts: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, text=IDLE_METRICS)
        self.posts.append(request.url.host)
        return self.answers[request.url.host](request)


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"choices": []})


def status(code: int) -> Answer:
    return lambda request: httpx.Response(code, json={"message": f"status {code}"})


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


def hang(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("slow", request=request)


def _failovers(reason: str) -> float:
    return (
        REGISTRY.get_sample_value("sovereign_failovers_total", {"pool": "de", "reason": reason})
        or 0.0
    )


async def _call(settings: Settings, engines: Engines, times: int = 1) -> list[int | str]:
    topology = Topology.from_settings(settings)
    async with httpx.AsyncClient(transport=httpx.MockTransport(engines)) as client:
        forwarder = Forwarder(HttpxEngines(client), build_router(settings, topology, client))
        outcomes: list[int | str] = []
        for _ in range(times):
            try:
                answer = await forwarder.call(
                    TENANT, topology.engines, "/v1/chat/completions", b"{}", "req_1", CTX
                )
                outcomes.append(answer.status)
            except GatewayError as exc:
                outcomes.append(f"{exc.status}:{exc.code}")
        return outcomes


@pytest.mark.parametrize("failure", [refuse, status(503)])
async def test_a_failed_attempt_moves_to_the_next_engine(failure: Answer) -> None:
    reason = "connect" if failure is refuse else "status_5xx"
    before = _failovers(reason)
    engines = Engines({"a.de": failure, "b.de": ok})
    assert await _call(_settings(), engines, times=4) == [200] * 4
    assert engines.posts.count("b.de") == 4
    assert _failovers(reason) > before


async def test_client_errors_and_timeouts_after_sending_are_not_retried() -> None:
    bad = Engines({"a.de": status(400), "b.de": status(400)})
    assert await _call(_settings(), bad) == ["400:upstream_error"]
    assert len(bad.posts) == 1
    slow = Engines({"a.de": hang, "b.de": hang})
    outcome = await _call(_settings(), slow)
    assert outcome[0] == f"504:{UpstreamTimeout.default_code}"
    assert len(slow.posts) == 1


async def test_an_open_circuit_keeps_requests_off_a_failing_engine() -> None:
    engines = Engines({"a.de": status(500), "b.de": ok})
    outcomes = await _call(_settings(breaker_failures=2), engines, times=10)
    assert outcomes == [200] * 10
    assert engines.posts.count("a.de") == 2  # then its circuit is open: not tried again


async def test_a_refused_connection_opens_the_circuit_at_once() -> None:
    """Nothing listens there: the engine is down, so the first refusal opens its circuit
    (a 5xx needs ``breaker_failures`` in a row, as above)."""
    engines = Engines({"a.de": refuse, "b.de": ok})
    outcomes = await _call(_settings(breaker_failures=3), engines, times=10)
    assert outcomes == [200] * 10
    assert engines.posts.count("a.de") == 1


async def test_when_every_engine_fails_the_engines_own_error_is_returned() -> None:
    engines = Engines({"a.de": refuse, "b.de": status(502)})
    (outcome,) = await _call(_settings(), engines)
    assert str(outcome).startswith("502:")
    assert UpstreamStatusError.status_code == 502


async def test_a_request_waits_for_a_slot_until_its_deadline_then_gets_429() -> None:
    settings = _settings(queue_timeout_interactive=0.05)
    topology = Topology.from_settings(settings)
    engines = Engines({"a.de": ok, "b.de": ok})
    async with httpx.AsyncClient(transport=httpx.MockTransport(engines)) as client:
        router = build_router(settings, topology, client)
        forwarder = Forwarder(HttpxEngines(client), router)
        held = [
            await forwarder.open(
                TENANT, topology.engines, "/v1/x", b"{}", f"r{i}", CTX, expect=JSON
            )
            for i in range(2)
        ]  # both engines at their cap of one
        with pytest.raises(RateLimited) as refused:
            await forwarder.open(TENANT, topology.engines, "/v1/x", b"{}", "r3", CTX, expect=JSON)
        assert refused.value.code == "engines_busy"
        assert int(refused.value.headers["retry-after"]) >= 1
        await held[0].aclose()  # a slot frees: the next request gets it at once
        third = await asyncio.wait_for(
            forwarder.open(TENANT, topology.engines, "/v1/x", b"{}", "r4", CTX, expect=JSON), 1
        )
        for stream in (held[1], third):
            await stream.aclose()
        assert router.admission.in_use("http://a.de:1") == 0
