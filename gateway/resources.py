"""Shared resources, created in the lifespan: the request path (``pipeline``, read by the
inference routes) and what the other routes (admin, models, probes) reach through typed
dependencies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request

from gateway.auth_failures import AuthFailures
from gateway.batches.build import build_batches
from gateway.console.runtime import Console, build_console
from gateway.core.tenant import Principal
from gateway.erasure import register_erasers
from gateway.health import EngineHealth
from gateway.identity.bearer import Authenticator
from gateway.identity.claims import actor_of
from gateway.identity.jwks import idp_client
from gateway.identity.tokens import TokenVerifier
from gateway.metering import estimate
from gateway.metering.service import Metering
from gateway.pipeline.build import build_pipeline
from gateway.privacy.service import Privacy, build_privacy, check_privacy_settings
from gateway.provenance.service import build_detector, build_provenance
from gateway.quota.store import QuotaStore
from gateway.routing.build import build_router
from gateway.routing.router import Router
from gateway.settings import Settings
from gateway.stores import build_stores, check_stores, gateway_id
from gateway.telemetry.hub import Observability, build_observability
from gateway.telemetry.metrics_server import MetricsServer
from gateway.telemetry.residency import check_residency
from gateway.tenancy.admin import TenantAdmin
from gateway.tenancy.directory import Directory
from gateway.topology import Topology
from gateway.upstream.client import build_client
from gateway.upstream.engines import build_engines
from gateway.upstream.forwarder import Forwarder


@dataclass(frozen=True, slots=True)
class Resources:
    settings: Settings
    topology: Topology
    directory: Directory
    tenant_admin: TenantAdmin
    quota_store: QuotaStore
    metering: Metering
    health: EngineHealth
    gateway_id: str
    privacy: Privacy
    router: Router
    observability: Observability
    auth_failures: AuthFailures
    # Bearer JWTs of the configured issuers (None: none configured); ``authenticator`` is the
    # one authentication of /v1 (keys and JWTs), the pipeline's and the dependency's.
    identity: TokenVerifier | None
    authenticator: Authenticator
    console: Console | None = None  # the web console at /console (None: console.enabled off)


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[dict[str, Any]]]


def lifespan_for(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> Lifespan:
    topology = Topology.from_settings(settings)
    pepper_secret = settings.security.key_pepper
    pepper = pepper_secret.get_secret_value().encode() if pepper_secret else None
    if not pepper and any(
        k.hash.startswith("hmac-sha256:") for t in settings.tenants for k in t.api_keys
    ):  # fails at start-up, not at first request
        raise ValueError("an API key is an hmac-sha256 hash but no key pepper is set")
    catalogue = check_privacy_settings(settings)
    check_residency(settings)  # no sink, store or engine outside the jurisdictions
    check_stores(settings)  # a shared store needs the durable ledger

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        replica = gateway_id(settings)
        stores = build_stores(settings, replica)
        observability = await build_observability(settings, replica)
        directory = Directory(stores.directory, pepper, settings.store.directory_poll_interval)
        admin = TenantAdmin(
            stores.directory,
            pepper,
            catalogue.policies,
            audit=observability.admin_action,
            on_change=directory.refresh,
        )
        await asyncio.to_thread(estimate.preload)
        await admin.bootstrap(settings)
        await directory.refresh()
        if stores.metering.ledger is not None:
            await stores.metering.ledger.start()
        await stores.metering.replay()
        await stores.metering.heartbeat()  # before any admission of this replica
        privacy = await build_privacy(settings, stores.redis)
        metrics = settings.telemetry.metrics
        metrics_server = MetricsServer(metrics.host, metrics.port) if metrics else None
        if metrics_server is not None:
            await metrics_server.start()  # a busy port fails the start, loudly
        try:
            async with (
                build_client(settings.upstream, transport) as client,  # scrapes
                idp_client() as idp,  # the identity providers' keys (unused without issuers)
            ):
                router = build_router(settings, topology, client)
                engines = build_engines(settings.upstream, transport)  # requests
                forwarder = Forwarder(engines, router)
                health = EngineHealth(router.monitor, topology.engines)
                retention = directory.retention_days()  # as stored: the admin API sets it
                loops = [
                    asyncio.create_task(directory.watch()),
                    asyncio.create_task(router.monitor.run()),
                    asyncio.create_task(
                        observability.retention_forever(
                            retention, float(settings.telemetry.retention_days), 3600.0
                        )
                    ),
                ]
                sink = settings.telemetry.audit
                if observability.audit.store.anchored and sink is not None:  # PostgreSQL
                    anchors = observability.audit.anchor_forever(sink.anchor_interval)
                    loops.append(asyncio.create_task(anchors))
                if not stores.metering.embedded:
                    interval = settings.metering.replay_interval
                    store = settings.store
                    keep_alive = stores.metering.keep_alive_forever(
                        store.orphan_sweep_interval, store.replica_heartbeat_ttl
                    )
                    loops.append(asyncio.create_task(stores.metering.replay_forever(interval)))
                    loops.append(asyncio.create_task(keep_alive))
                ledger = stores.metering.ledger
                if ledger is not None:  # records from Redis into PostgreSQL; retention
                    m = settings.metering
                    loops.append(asyncio.create_task(ledger.ship_forever(m.ship_interval)))
                    default_days = float(settings.telemetry.retention_days)
                    billing = float(m.billing_retention_days)
                    purge = ledger.retention_forever(retention, default_days, billing, 3600.0)
                    loops.append(asyncio.create_task(purge))
                auth_failures = AuthFailures(pepper)
                identity = None
                if settings.identity.issuers:
                    identity = TokenVerifier(settings.identity, idp)
                    loops.append(asyncio.create_task(identity.warm()))  # not awaited: an IdP
                    # that is down must not stop the start (its tokens fail until it is up)
                authenticator = Authenticator(
                    directory, auth_failures, identity, observability.audit.subject_ref
                )
                provenance = build_provenance(
                    settings.provenance, replica, build_detector(settings.watermark)
                )
                pipeline = build_pipeline(
                    settings,
                    topology,
                    authenticator,
                    privacy,
                    stores.metering,
                    observability,
                    router.monitor,
                    forwarder,
                    replica,
                    provenance,
                )
                batches = await build_batches(
                    settings, pipeline, directory, authenticator, observability, replica
                )
                register_erasers(
                    observability.audit, stores.metering, privacy.prompts.vault, batches.store
                )
                if batches.runner is not None:  # this worker runs its share of the batches
                    loops.append(asyncio.create_task(batches.runner.run_forever()))
                resources = Resources(
                    settings,
                    topology,
                    directory,
                    admin,
                    stores.quota,
                    stores.metering,
                    health,
                    replica,
                    privacy,
                    router,
                    observability,
                    auth_failures,
                    identity=identity,
                    authenticator=authenticator,
                    console=build_console(
                        settings.console,
                        settings.identity,
                        stores.redis,
                        idp,
                        identity,
                        actor_of,
                        secret=settings.security.pseudonym_key,
                    ),
                )
                from gateway.runtime import settle_process

                settle_process()  # start-up is done: out of gc's way, GIL bounded (runtime.py)
                try:
                    yield {
                        "resources": resources,
                        "pipeline": pipeline,
                        "batches": batches.api,
                        "provenance": provenance,  # gateway/provenance/routes.py
                    }
                finally:
                    for loop in loops:
                        loop.cancel()
                    await asyncio.gather(*loops, return_exceptions=True)
                    await batches.close()
                    await engines.aclose()
        finally:
            if metrics_server is not None:
                await metrics_server.stop()
            await observability.close()
            privacy.close()
            await stores.aclose()

    return lifespan


# Dependencies are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a
# thread pool, a thread hop per dependency per request (measured: ~1 ms CPU per request).


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.state.resources
    return resources


async def authenticate(
    request: Request, resources: Annotated[Resources, Depends(get_resources)]
) -> Principal:
    client = request.client.host if request.client else None
    return await resources.authenticator(request.headers.get("authorization"), client)


ResourcesDep = Annotated[Resources, Depends(get_resources)]
PrincipalDep = Annotated[Principal, Depends(authenticate)]
