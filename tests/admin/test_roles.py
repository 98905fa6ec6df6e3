"""Every role against every class of admin route, through the real gateway, with admin tokens
and with JWTs alike: 2xx where the role grants it, 403 where it does not, and 404 where a
tenant admin names a tenant not its own (as for a tenant that does not exist)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.admin.conftest import ACME, OTHER, ROLES, World

P, T, A, D, OP = ROLES  # platform_admin, tenant_admin, auditor, dpo, operator


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    allowed: dict[str, int]  # role -> status; every other role: 403
    body: Callable[[], Any] | None = None

    def expected(self, role: str) -> int:
        return self.allowed.get(role, 403)


def _all(status: int, *roles: str) -> dict[str, int]:
    return dict.fromkeys(roles, status)


def _new_tenant() -> dict[str, Any]:
    return {"id": f"adm-new-{uuid.uuid4().hex[:8]}"}


def _subject() -> dict[str, Any]:
    return {"subject": f"nobody-{uuid.uuid4().hex[:8]}"}


EVERYONE = (P, T, A, D, OP)
READERS = (P, T, A, OP)  # usage, policy: the tenant admin its own
ROUTES = [
    Route("tenants.list", "GET", "/tenants", _all(200, *EVERYONE, "none")),
    Route("tenants.create", "POST", "/tenants", {P: 201}, _new_tenant),
    Route("tenant.get", "GET", f"/tenants/{ACME}", _all(200, *EVERYONE)),
    Route("tenant.get other", "GET", f"/tenants/{OTHER}", {**_all(200, P, A, D, OP), T: 404}),
    Route("tenant.update", "PATCH", f"/tenants/{ACME}", _all(200, P, T), lambda: {"policy": None}),
    Route("tenant.update other", "PATCH", f"/tenants/{OTHER}", {P: 200, T: 404}, lambda: {}),
    Route("keys.list", "GET", f"/tenants/{ACME}/keys", _all(200, P, T, OP)),
    Route("keys.list other", "GET", f"/tenants/{OTHER}/keys", {P: 200, T: 404, OP: 200}),
    Route("keys.issue", "POST", f"/tenants/{ACME}/keys", _all(201, P, T), dict),
    Route("keys.issue other", "POST", f"/tenants/{OTHER}/keys", {P: 201, T: 404}, dict),
    Route("keys.revoke unknown", "DELETE", f"/tenants/{ACME}/keys/nope", _all(404, P, T)),
    Route("usage", "GET", f"/tenants/{ACME}/usage", _all(200, *READERS)),
    Route("usage other", "GET", f"/tenants/{OTHER}/usage", {**_all(200, P, A, OP), T: 404}),
    Route("usage.series", "GET", f"/tenants/{ACME}/usage/series", _all(200, *READERS)),
    Route("usage.csv", "GET", f"/tenants/{ACME}/usage.csv", _all(200, *READERS)),
    Route("usage.csv other", "GET", f"/tenants/{OTHER}/usage.csv", {**_all(200, P, A, OP), T: 404}),
    Route("policy", "GET", f"/tenants/{ACME}/policy", _all(200, *READERS)),
    Route("policy other", "GET", f"/tenants/{OTHER}/policy", {**_all(200, P, A, OP), T: 404}),
    Route("engines", "GET", "/engines", _all(200, P, OP)),
    Route("audit.verify", "GET", "/audit/verify", _all(200, P, A, D)),
    Route("audit.records", "GET", "/audit/records", _all(200, P, T, A, D)),
    Route("audit.records other", "GET", f"/audit/records?tenant={OTHER}",
          {**_all(200, P, A, D), T: 404}),
    Route("audit.erasures", "GET", "/audit/erasures", _all(200, P, A, D)),
    Route("subjects.erase", "POST", "/subjects/erase", _all(200, P, D), _subject),
    Route("batches.erase", "DELETE", f"/tenants/{ACME}/batches", _all(200, P, T)),
    Route("batches.erase other", "DELETE", f"/tenants/{OTHER}/batches", {P: 200, T: 404}),
]  # fmt: skip


@pytest.mark.parametrize("kind", ["token", "jwt"])
def test_every_role_against_every_route(world: World, kind: str) -> None:
    roles = [*ROLES, "none"] if kind == "jwt" else list(ROLES)  # a token always has a role
    failures = []
    for role in roles:
        with world.admin(world.credential(role, kind)) as admin:
            for route in ROUTES:
                body = route.body() if route.body else None
                response = admin.request(route.method, route.path, json=body)
                expected = route.expected(role)
                if response.status_code != expected:
                    failures.append(f"{role} {route.name}: {response.status_code} != {expected}")
                elif expected == 403:
                    error = response.json()["error"]
                    assert error["type"] == "permission_denied"
                    assert error["code"] == "insufficient_permissions"
    assert failures == []


def test_a_tenant_admin_is_told_no_more_about_other_tenants_than_about_none(world: World) -> None:
    with world.admin(world.credential(T, "token")) as admin:
        listed = admin.get("/tenants").json()
        assert [t["id"] for t in listed] == [ACME]
        for path in ("/tenants/{}", "/tenants/{}/keys", "/tenants/{}/usage", "/tenants/{}/policy"):
            other = admin.get(path.format(OTHER))
            missing = admin.get(path.format("adm-no-such-tenant"))
            assert other.status_code == missing.status_code == 404
            assert other.json()["error"]["code"] == missing.json()["error"]["code"]
            assert other.json()["error"]["type"] == "not_found_error"
    # The platform admin sees both (and whatever else lives on the suite's Redis)
    with world.admin(world.credential(P, "token")) as admin:
        assert {ACME, OTHER} <= {t["id"] for t in admin.get("/tenants").json()}


def test_a_tenant_admin_changes_its_own_choices_but_not_the_platforms(world: World) -> None:
    with world.admin(world.credential(T, "jwt")) as admin:
        chose = admin.patch(f"/tenants/{ACME}", json={"policy": "contact-centre"})
        assert chose.status_code == 200, chose.text
        assert chose.json()["policy"] == "contact-centre"
        for field, value in (
            ("allowed_jurisdictions", ["DE", "AT"]),
            ("allowed_models", ["*"]),
            ("retention_days", 3650),
            ("jwt_issuers", ["corp"]),
        ):
            refused = admin.patch(f"/tenants/{ACME}", json={field: value})
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["param"] == field
        tightened = admin.patch(f"/tenants/{ACME}", json={"limits": {"requests_per_minute": 500}})
        assert tightened.status_code == 200, tightened.text
        loosened = admin.patch(f"/tenants/{ACME}", json={"limits": {"requests_per_minute": 900}})
        assert loosened.status_code == 403
        assert loosened.json()["error"]["param"] == "limits"
        lifted = admin.patch(f"/tenants/{ACME}", json={"limits": {}})  # 0: no limit
        assert lifted.status_code == 403
        back = admin.patch(f"/tenants/{ACME}", json={"policy": None})
        assert back.status_code == 200
    with world.admin(world.credential(P, "token")) as admin:  # the platform may lift it
        assert admin.patch(f"/tenants/{ACME}", json={"limits": {}}).status_code == 200


def test_credentials_the_admin_api_refuses(world: World) -> None:
    refusals = [
        world.jwt("gw-platform", sub="x") + "x",  # a bad signature
        "sk-not-an-admin-token",
        f"sk-adm-acme-{'0' * 8}",
    ]
    for credential in refusals:
        with world.admin(credential) as admin:
            response = admin.get("/tenants")
            assert response.status_code == 401, response.text
            assert response.json()["error"]["type"] == "authentication_error"
    with world.admin("") as admin:
        assert admin.get("/tenants", headers={"authorization": ""}).status_code == 401
