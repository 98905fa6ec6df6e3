"""Every POST route of the console, found in the app itself (a new one is covered the day it
is added): refused without the session's token, from another origin, and without a session."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from tests.console.conftest import ALICE, ORIGIN, TOM, csrf_of, sign_in
from tests.console.fake_idp import FakeIdP

PARAMS = {"tenant_id": "acme-de", "key_id": "acme-key"}
EVIL = {"origin": "https://evil.example"}
# Signed out, the language switcher alone works (same origin; all it sets is a cookie).
WITHOUT_SESSION_OK = {"/console/language"}


def _walk(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, through included routers (FastAPI >= 0.165 keeps them as routers)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _walk(inner.routes) if inner is not None else (route,)


def _ours(path: str) -> bool:
    return path == "/console" or path.startswith("/console/")


def post_routes(client: TestClient) -> list[str]:
    paths = []
    for route in _walk(client.app.routes):  # type: ignore[attr-defined]
        if isinstance(route, APIRoute) and "POST" in (route.methods or ()) and _ours(route.path):
            paths.append(re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PARAMS[m.group(1)], route.path))
    return sorted(paths)


def test_the_console_has_the_post_routes_it_documents(client: TestClient) -> None:
    found = post_routes(client)
    known = ("/console/auth/logout", "/console/tenants", "/console/language",
             "/console/tenants/acme-de/keys/acme-key/rotate", "/console/audit/erasure")  # fmt: skip
    assert set(known) <= set(found)


def test_every_post_needs_the_token_our_origin_and_a_session(
    client: TestClient, idp: FakeIdP
) -> None:
    sign_in(client, idp, ALICE)
    token = csrf_of(client.get("/console").text)
    form = {"lang": "en", "id": "csrf-co", "subject": "someone", "policy": "", "key_id": "x",
            "requests_per_minute": "1", "grace_seconds": "0", "next": "/console"}  # fmt: skip
    for path in post_routes(client):
        assert client.post(path, data=form, headers=ORIGIN).status_code == 403, path
        wrong = {**form, "csrf_token": token[:-1] + ("A" if token[-1] != "A" else "B")}
        assert client.post(path, data=wrong, headers=ORIGIN).status_code == 403, path
        with_token = {**form, "csrf_token": token}
        assert client.post(path, data=with_token, headers=EVIL).status_code == 403, path
        cross = {"sec-fetch-site": "cross-site"}
        assert client.post(path, data=with_token, headers=cross).status_code == 403, path
    assert client.get("/console").status_code == 200  # still signed in: logout was refused
    assert "csrf-co" not in client.get("/console/tenants").text  # nothing was created
    client.cookies.clear()
    for path in post_routes(client):
        if path in WITHOUT_SESSION_OK:
            assert client.post(path, data=form, headers=EVIL).status_code == 403, path
            continue
        assert (
            client.post(path, data={**form, "csrf_token": token}, headers=ORIGIN).status_code == 403
        ), path


def _main(page: str) -> str:
    """The page's content, without the session's token."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page.split("<main>")[1])


def test_a_tenant_admin_cannot_change_another_tenant_by_editing_the_form(
    client: TestClient, idp: FakeIdP
) -> None:
    sign_in(client, idp, ALICE)
    before = client.get("/console/tenants/limited").text
    client.cookies.clear()
    sign_in(client, idp, TOM)  # tenant admin of acme-de
    token = csrf_of(client.get("/console").text)
    form = {"csrf_token": token, "id": "tom-co", "key_id": "tom-new", "policy": "",
            "requests_per_minute": "1", "grace_seconds": "0", "subject": "someone"}  # fmt: skip
    PARAMS.update(tenant_id="limited", key_id="lim-1")
    try:
        routes = post_routes(client)
    finally:
        PARAMS.update(tenant_id="acme-de", key_id="acme-key")
    for path in routes:
        if "/tenants/limited" in path:
            assert client.post(path, data=form, headers=ORIGIN).status_code == 404, path
    for platform_wide in ("/console/tenants", "/console/audit/erasure", "/console/audit/verify"):
        assert client.post(platform_wide, data=form, headers=ORIGIN).status_code == 403
    client.cookies.clear()
    sign_in(client, idp, ALICE)
    after = client.get("/console/tenants/limited").text
    assert _main(after) == _main(before)  # the other tenant is as it was (limits, policy, keys)
    assert 'data-testid="tenant-row-tom-co"' not in client.get("/console/tenants").text
