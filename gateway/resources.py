"""Shared resources, created in the lifespan and reached through typed dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Request

from gateway.auth import KeyRing, Principal
from gateway.health import EngineHealth
from gateway.settings import Settings
from gateway.topology import Topology
from gateway.upstream.client import build_client
from gateway.upstream.forwarder import Forwarder
from gateway.upstream.selection import RoundRobinSelector


@dataclass(frozen=True, slots=True)
class Resources:
    settings: Settings
    topology: Topology
    keyring: KeyRing
    forwarder: Forwarder
    health: EngineHealth


def build_keyring(settings: Settings, topology: Topology) -> KeyRing:
    tenants = {t.id: t for t in topology.tenants}
    pepper = settings.security.key_pepper
    entries = [
        (key.hash, Principal(tenants[t.id], key.id)) for t in settings.tenants for key in t.api_keys
    ]
    return KeyRing(entries, pepper.get_secret_value().encode() if pepper else None)


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[dict[str, Resources]]]


def lifespan_for(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> Lifespan:
    topology = Topology.from_settings(settings)
    keyring = build_keyring(settings, topology)  # fails at start-up, not at first request

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Resources]]:
        async with build_client(settings.upstream, transport) as client:
            forwarder = Forwarder(client, RoundRobinSelector())
            health = EngineHealth(client, topology.engines, settings.upstream.health_timeout)
            yield {"resources": Resources(settings, topology, keyring, forwarder, health)}

    return lifespan


# Dependencies are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a
# thread pool, a thread hop per dependency per request (measured: ~1 ms CPU per request).


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.state.resources
    return resources


async def get_request_id(request: Request) -> str:
    request_id: str = request.state.request_id
    return request_id


async def authenticate(
    request: Request, resources: Annotated[Resources, Depends(get_resources)]
) -> Principal:
    return resources.keyring.authenticate(request.headers.get("authorization"))


ResourcesDep = Annotated[Resources, Depends(get_resources)]
PrincipalDep = Annotated[Principal, Depends(authenticate)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
