"""Never across the border: over random topologies, tenant policies, strategies and engine
failures, no request (first attempt, retry or failover) reaches an engine outside the
tenant's allowed jurisdictions, and every failure is a clean gateway error."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import GatewayError
from gateway.residency import candidate_engines
from gateway.routing.build import build_router
from gateway.routing.view import Priority, RouteContext
from gateway.settings import Settings
from gateway.topology import Tenant, Topology
from gateway.upstream.engines import HttpxEngines
from gateway.upstream.forwarder import Forwarder
from tests.unit.conftest import IDLE_METRICS

JURISDICTIONS = ("DE", "AT", "FR", "NL")
FATES = ("ok", "refuse", "5xx", "4xx")


@dataclass(frozen=True)
class World:
    settings: Settings
    fates: dict[str, str]  # engine host -> how it answers
    allowed: frozenset[str]
    model: str
    session: str | None
    batch: bool
    scrape_first: bool


@st.composite
def worlds(draw: st.DrawFn) -> World:
    pools = []
    fates: dict[str, str] = {}
    for p in range(draw(st.integers(1, 5))):
        jurisdiction = draw(st.sampled_from(JURISDICTIONS))
        engines = []
        for e in range(draw(st.integers(1, 3))):
            host = f"p{p}-e{e}.{jurisdiction.lower()}"
            fates[host] = draw(st.sampled_from(FATES))
            engines.append(f"http://{host}:8000")
        pools.append(
            {
                "name": f"pool-{p}",
                "jurisdiction": jurisdiction,
                "site": f"{jurisdiction.lower()}-site-{draw(st.integers(0, 2))}",
                "gpu": draw(st.sampled_from(("b200", "rtx-pro-6000", "cpu"))),
                "engines": engines,
                "models": draw(
                    st.lists(st.sampled_from(("m1", "m2")), min_size=1, max_size=2, unique=True)
                ),
                "max_concurrency": draw(st.none() | st.integers(1, 4)),
                "strategy": draw(st.none() | st.sampled_from(("round_robin", "affinity"))),
            }
        )
    allowed = draw(st.sets(st.sampled_from(JURISDICTIONS), min_size=1))
    sites = sorted({str(p["site"]) for p in pools})  # foreign sites too: a preference is no licence
    tenant = {
        "id": "t",
        "allowed_jurisdictions": sorted(allowed),
        "preferred_sites": draw(st.lists(st.sampled_from(sites), max_size=3, unique=True)),
    }
    routing = {
        "strategy": draw(st.sampled_from(("round_robin", "least_load", "affinity"))),
        "max_attempts": draw(st.integers(1, 5)),
        "breaker_failures": draw(st.integers(1, 3)),
        "queue_timeout_interactive": 0.05,
        "queue_timeout_batch": 0.05,
    }
    settings_ = Settings(pools=pools, tenants=[tenant], routing=routing)
    return World(
        settings_,
        fates,
        frozenset(allowed),
        draw(st.sampled_from(("m1", "m2"))),
        draw(st.none() | st.text(min_size=1, max_size=8)),
        draw(st.booleans()),
        draw(st.booleans()),
    )


def _engine(fates: dict[str, str], contacted: list[str]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        fate = fates[host]
        if fate == "refuse":
            raise httpx.ConnectError("refused", request=request)
        if request.method == "GET":
            return httpx.Response(200, text=IDLE_METRICS)
        contacted.append(host)
        if fate == "5xx":
            return httpx.Response(500, json={"message": "engine failed"})
        if fate == "4xx":
            return httpx.Response(400, json={"message": "bad request"})
        return httpx.Response(200, json={"choices": [], "usage": {"prompt_tokens": 1}})

    return httpx.MockTransport(answer)


async def _route(world: World, contacted: list[str]) -> int | str:
    topology = Topology.from_settings(world.settings)
    tenant_settings = world.settings.tenants[0]
    tenant = Tenant(
        "t",
        frozenset(tenant_settings.allowed_jurisdictions),
        None,
        preferred_sites=tuple(tenant_settings.preferred_sites),
    )
    try:
        candidates = candidate_engines(tenant, world.model, topology)
    except GatewayError as refused:
        return refused.status
    async with httpx.AsyncClient(transport=_engine(world.fates, contacted)) as client:
        router = build_router(world.settings, topology, client)
        if world.scrape_first:
            await router.monitor.refresh()
        ctx = RouteContext(
            tenant="t",
            model=world.model,
            session_key=world.session,
            preferred_sites=tenant.preferred_sites,
            priority=Priority.BATCH if world.batch else Priority.INTERACTIVE,
        )
        forwarder = Forwarder(HttpxEngines(client), router)
        outcomes: list[int | str] = []
        for _ in range(3):  # several requests: breakers open, budgets drain
            try:
                answer = await forwarder.call(tenant, candidates, "/v1/chat/completions",
                                              json.dumps({"model": world.model}).encode(),
                                              "req_1", ctx)  # fmt: skip
                outcomes.append(answer.status)
            except GatewayError as failed:
                outcomes.append(failed.status)
        return ",".join(map(str, outcomes))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_no_attempt_ever_leaves_the_tenants_jurisdictions(world: World) -> None:
    contacted: list[str] = []
    asyncio.run(_route(world, contacted))
    for host in contacted:
        jurisdiction = host.rsplit(".", 1)[1].upper()
        assert jurisdiction in world.allowed, f"{host} reached for a tenant in {world.allowed}"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_a_healthy_allowed_engine_serves_when_all_others_fail_only_by_refusing(
    world: World,
) -> None:
    # Engines that refuse connections are skipped at once (and their circuits open); if an
    # allowed engine serving the model answers, the request succeeds within the attempts.
    fates = {h: ("refuse" if f != "ok" else f) for h, f in world.fates.items()}
    world = World(world.settings, fates, world.allowed, world.model, world.session,
                  world.batch, world.scrape_first)  # fmt: skip
    topology = Topology.from_settings(world.settings)
    serving = [
        e for e in topology.engines
        if world.model in e.pool.models and e.pool.jurisdiction in world.allowed
    ]  # fmt: skip
    contacted: list[str] = []
    outcome = asyncio.run(_route(world, contacted))
    healthy = [e for e in serving if fates[httpx.URL(e.url).host] == "ok"]
    if healthy and len(serving) <= world.settings.routing.max_attempts:
        assert str(outcome).split(",")[-1] == "200", outcome


def test_when_every_allowed_engine_fails_the_healthy_foreign_one_is_still_never_tried() -> None:
    pools = [
        {"name": "de", "jurisdiction": "DE", "site": "de-1", "engines": ["http://a.de:1",
         "http://b.de:1"], "models": ["m1"]},
        {"name": "at", "jurisdiction": "AT", "site": "at-1", "engines": ["http://c.at:1"],
         "models": ["m1"], "strategy": "round_robin"},
    ]  # fmt: skip
    world = World(
        Settings(
            pools=pools,
            tenants=[{"id": "t", "allowed_jurisdictions": ["DE"], "preferred_sites": ["at-1"]}],
            routing={"max_attempts": 5},
        ),
        {"a.de": "refuse", "b.de": "5xx", "c.at": "ok"},
        frozenset({"DE"}),
        "m1",
        None,
        False,
        True,
    )
    contacted: list[str] = []
    outcome = asyncio.run(_route(world, contacted))
    assert contacted  # the allowed engine that answers 5xx was tried ...
    assert set(contacted) == {"b.de"}  # ... and nothing else, not even the preferred AT site
    assert outcome == "502,502,502"
