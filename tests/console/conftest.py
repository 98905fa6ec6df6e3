"""The console's HTTP tests: one gateway (in-process, TestClient) against one fake IdP (a
real local server), both started once per module; every test starts without cookies."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from gateway.app import create_app
from gateway.console.routes import router
from gateway.console.runtime import Console
from gateway.identity.roles import Actor
from gateway.identity.tokens import VerifiedToken
from gateway.settings import Settings
from tests.console.fake_idp import FakeIdP, running_idp
from tests.unit.conftest import FakeEngines, make_settings

BASE = "http://testserver"
ORIGIN = {"origin": BASE}
ALICE = {"sub": "alice", "preferred_username": "alice", "sg_roles": ["admins"]}
TOM = {
    "sub": "tom",
    "preferred_username": "tom",
    "sg_roles": ["tenant-admins"],
    "sg_tenant": "acme-de",
}
DORA = {"sub": "dora", "preferred_username": "dora", "sg_roles": ["dpo"]}
AUDREY = {"sub": "audrey", "preferred_username": "audrey", "sg_roles": ["auditors"]}
NOBODY = {"sub": "nobody", "preferred_username": "nobody", "sg_roles": ["strangers"]}


def console_settings(issuer: str, **console: Any) -> Settings:
    identity = {
        "issuers": [
            {
                "name": "corp",
                "issuer": issuer,
                "jurisdiction": "DE",
                "operator": "Test IdP",
                "role_map": {
                    "admins": "platform_admin",
                    "tenant-admins": "tenant_admin",
                    "dpo": "dpo",
                    "auditors": "auditor",
                },
            }
        ]
    }
    section = {
        "enabled": True,
        "issuer": "corp",
        "public_url": BASE,
        "cookie_secure": False,
        "default_language": "en",
        **console,
    }
    return make_settings(identity=identity, console=section)


@pytest.fixture(scope="module")
def idp() -> Iterator[FakeIdP]:
    with running_idp() as provider:
        yield provider


@pytest.fixture(scope="module")
def gateway(idp: FakeIdP) -> Iterator[TestClient]:
    app = create_app(
        console_settings(idp.issuer), upstream_transport=httpx.MockTransport(FakeEngines())
    )
    with TestClient(app, base_url=BASE, follow_redirects=False) as client:
        yield client


@pytest.fixture
def client(gateway: TestClient) -> TestClient:
    gateway.cookies.clear()
    gateway.headers.pop("accept-language", None)
    return gateway


def sign_in(client: TestClient, idp: FakeIdP, user: dict[str, Any], next: str = "/console") -> str:
    """The whole code flow as a browser runs it; the console page it lands on (its path)."""
    idp.next_user = user
    started = client.get("/console/auth/login", params={"next": next})
    assert started.status_code == 303, started.text
    back = idp_redirect(started.headers["location"])
    done = client.get(back)
    assert done.status_code == 303, done.text
    return done.headers["location"]


def idp_redirect(authorize_url: str) -> str:
    """What the IdP answers the browser: the callback path with code and state."""
    answer = httpx.get(authorize_url, follow_redirects=False)
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    return f"{location.path}?{location.query}"


def csrf_of(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


class Clock:
    """A clock the test moves (``now``)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def no_actor(verified: VerifiedToken) -> Actor:
    raise AssertionError("not used")


def console_browser(console: Console) -> httpx.AsyncClient:
    """A browser against the console's routes alone, served by ``console`` (no gateway)."""
    app = FastAPI()
    app.include_router(router)
    resources = SimpleNamespace(console=console)

    async def with_console(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["resources"] = resources
        await app(scope, receive, send)

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=with_console), base_url=BASE)
