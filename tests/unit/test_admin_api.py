"""The admin API over the in-memory stores: its own token, tenants, keys, usage."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import http_errors
from gateway.admin import admin_router
from gateway.auth import hash_key
from gateway.auth_failures import AuthFailures
from gateway.core.tenant import TenantSpec
from gateway.core.usage import UsageRecord
from gateway.metering.service import Metering
from gateway.privacy.catalogue import PolicyCatalogue
from gateway.quota.memory_store import MemoryQuotaStore
from gateway.quota.store import QuotaStore
from gateway.settings import Settings
from gateway.tenancy.admin import TenantAdmin
from gateway.tenancy.store import MemoryDirectoryStore

ADMIN_TOKEN = "sg-admin-test-token-0001"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
PEPPER = "pepper-for-tests"


@dataclass(frozen=True, slots=True)
class FakeResources:
    settings: Settings
    tenant_admin: TenantAdmin
    quota_store: QuotaStore
    auth_failures: AuthFailures
    metering: Metering  # usage reads its ledger: the embedded one over ``quota_store`` here
    identity: None = None  # no JWT issuers: admin tokens only


def with_resources(app: ASGIApp, resources: FakeResources) -> ASGIApp:
    """What the lifespan does in the real app: put the resources in ``request.state``."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["resources"] = resources
        await app(scope, receive, send)

    return wrapped


def make_resources(
    token_hash: str | None = hash_key(ADMIN_TOKEN), pepper: str | None = None
) -> FakeResources:
    settings = Settings(admin={"token_hash": token_hash}, security={"key_pepper": pepper})
    tenant_admin = TenantAdmin(
        MemoryDirectoryStore(),
        pepper.encode() if pepper else None,
        PolicyCatalogue.from_settings(settings).policies,
    )
    pepper_bytes = pepper.encode() if pepper else None
    store = MemoryQuotaStore()
    metering = Metering(None, store, None)
    return FakeResources(settings, tenant_admin, store, AuthFailures(pepper_bytes), metering)


def make_client(resources: FakeResources) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(admin_router)
    http_errors.install(app)
    transport = httpx.ASGITransport(app=with_resources(app, resources))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway")


@pytest.fixture
def resources() -> FakeResources:
    return make_resources()


@pytest.fixture
async def client(resources: FakeResources) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(resources) as c:
        yield c


async def create(client: httpx.AsyncClient, tenant: str = "acme", **fields: Any) -> Any:
    body = {"id": tenant, "allowed_jurisdictions": ["DE"], **fields}
    response = await client.post("/admin/v1/tenants", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == error_type
    assert error["message"]
    return error


# The admin credential


async def test_admin_routes_refuse_missing_wrong_and_tenant_credentials(
    client: httpx.AsyncClient, resources: FakeResources
) -> None:
    await resources.tenant_admin.create_tenant(TenantSpec(id="acme"), actor="test")
    _, tenant_key = await resources.tenant_admin.issue_key("acme", actor="test")
    for headers in (
        {},
        {"authorization": "Bearer wrong-token"},
        {"authorization": f"Basic {ADMIN_TOKEN}"},
        {"authorization": f"Bearer {tenant_key}"},
    ):
        for method, path in [
            ("GET", "/admin/v1/tenants"),
            ("POST", "/admin/v1/tenants"),
            ("GET", "/admin/v1/tenants/acme/keys"),
            ("DELETE", "/admin/v1/tenants/acme/keys/whatever"),
        ]:
            response = await client.request(method, path, headers=headers)
            assert_error(response, 401, "authentication_error")
    ok = await client.get("/admin/v1/tenants", headers=ADMIN)
    assert ok.status_code == 200
    assert [t["id"] for t in ok.json()] == ["acme"]


async def test_a_bad_body_without_the_token_is_still_a_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/admin/v1/tenants", json={"id": "x", "bogus": 1})
    assert_error(response, 401, "authentication_error")


async def test_admin_api_is_off_without_a_token_hash() -> None:
    async with make_client(make_resources(token_hash=None)) as client:
        for method, path in [
            ("GET", "/admin/v1/tenants"),
            ("POST", "/admin/v1/tenants"),
            ("GET", "/admin/v1/tenants/acme/usage"),
        ]:
            response = await client.request(method, path, headers=ADMIN)
            assert_error(response, 404, "not_found_error")


async def test_a_peppered_admin_hash_needs_the_pepper() -> None:
    peppered = hash_key(ADMIN_TOKEN, PEPPER.encode())
    async with make_client(make_resources(peppered, pepper=PEPPER)) as client:
        assert (await client.get("/admin/v1/tenants", headers=ADMIN)).status_code == 200
    async with make_client(make_resources(peppered, pepper="another")) as client:
        response = await client.get("/admin/v1/tenants", headers=ADMIN)
        assert_error(response, 401, "authentication_error")
    async with make_client(make_resources(peppered, pepper=None)) as client:
        response = await client.get("/admin/v1/tenants", headers=ADMIN)
        assert_error(response, 401, "authentication_error")


# Tenants


async def test_create_get_list_and_duplicate_tenant(client: httpx.AsyncClient) -> None:
    created = await create(
        client,
        "acme",
        allowed_jurisdictions=["DE", "AT"],
        allowed_models=["smollm2"],
        limits={"requests_per_minute": 60},
        degraded_mode="fail_open",
    )
    assert created["id"] == "acme"
    assert created["allowed_jurisdictions"] == ["DE", "AT"]
    assert created["allowed_models"] == ["smollm2"]
    assert created["limits"]["requests_per_minute"] == 60
    assert created["limits"]["tokens_per_minute"] == 0
    assert created["degraded_mode"] == "fail_open"
    assert created["created_at"] == pytest.approx(time.time(), abs=5)
    await create(client, "beta")

    got = await client.get("/admin/v1/tenants/acme", headers=ADMIN)
    assert got.status_code == 200
    assert got.json() == created
    listed = await client.get("/admin/v1/tenants", headers=ADMIN)
    assert [t["id"] for t in listed.json()] == ["acme", "beta"]
    assert listed.json()[1]["allowed_models"] == ["*"]  # omitted: every model

    again = await client.post(
        "/admin/v1/tenants", json={"id": "acme", "allowed_jurisdictions": ["FR"]}, headers=ADMIN
    )
    error = assert_error(again, 409, "invalid_request_error")
    assert error["code"] == "conflict"
    unchanged = await client.get("/admin/v1/tenants/acme", headers=ADMIN)
    assert unchanged.json()["allowed_jurisdictions"] == ["DE", "AT"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"id": "acme", "allowed_jurisdictions": ["de"]}, "allowed_jurisdictions.0"),
        ({"id": "acme", "allowed_jurisdictions": ["DEU"]}, "allowed_jurisdictions.0"),
        ({"id": "acme", "allowed_jurisdictions": []}, "allowed_jurisdictions"),
        ({"id": "acme", "allowed_jurisdictions": None}, "allowed_jurisdictions"),
        ({"id": "no spaces", "allowed_jurisdictions": ["DE"]}, "id"),
        ({"id": "acme", "allowed_jurisdictions": ["DE"], "allowed_models": []}, "allowed_models"),
        (
            {"id": "acme", "allowed_jurisdictions": ["DE"], "degraded_mode": "maybe"},
            "degraded_mode",
        ),
        ({"id": "acme", "allowed_jurisdictions": ["DE"], "limits": {"rpm": 1}}, "limits.rpm"),
        ({"id": "acme", "allowed_jurisdictions": ["DE"], "owner": "x"}, "owner"),
    ],
)
async def test_invalid_tenant_bodies_are_400_in_openai_form(
    client: httpx.AsyncClient, body: dict[str, Any], param: str
) -> None:
    response = await client.post("/admin/v1/tenants", json=body, headers=ADMIN)
    error = assert_error(response, 400, "invalid_request_error")
    assert error["param"] == param
    listed = await client.get("/admin/v1/tenants", headers=ADMIN)
    assert listed.json() == []


async def test_patch_changes_only_the_fields_given(client: httpx.AsyncClient) -> None:
    created = await create(client, "acme", allowed_jurisdictions=["DE", "AT"])
    response = await client.patch(
        "/admin/v1/tenants/acme",
        json={"degraded_mode": "fail_open", "limits": {"tokens_per_minute": 1000}},
        headers=ADMIN,
    )
    assert response.status_code == 200
    patched = response.json()
    assert patched["degraded_mode"] == "fail_open"
    assert patched["limits"]["tokens_per_minute"] == 1000
    assert patched["allowed_jurisdictions"] == ["DE", "AT"]
    assert patched["created_at"] == created["created_at"]
    assert patched["updated_at"] >= created["updated_at"]
    assert (await client.get("/admin/v1/tenants/acme", headers=ADMIN)).json() == patched

    bad = await client.patch(
        "/admin/v1/tenants/acme", json={"allowed_jurisdictions": ["xx"]}, headers=ADMIN
    )
    assert_error(bad, 400, "invalid_request_error")
    empty = await client.patch("/admin/v1/tenants/acme", json={"allowed_models": []}, headers=ADMIN)
    assert assert_error(empty, 400, "invalid_request_error")["param"] == "allowed_models"
    assert (await client.get("/admin/v1/tenants/acme", headers=ADMIN)).json() == patched
    missing = await client.patch("/admin/v1/tenants/nope", json={}, headers=ADMIN)
    assert assert_error(missing, 404, "not_found_error")["code"] == "tenant_not_found"
    unknown = await client.get("/admin/v1/tenants/nope", headers=ADMIN)
    assert assert_error(unknown, 404, "not_found_error")["code"] == "tenant_not_found"


# Keys

KEY_FIELDS = {"id", "tenant", "hint", "limits", "created_at", "revoked_at", "active"}


async def test_issue_shows_the_key_once_and_listings_never_show_it(
    client: httpx.AsyncClient, resources: FakeResources
) -> None:
    await create(client, "acme")
    response = await client.post(
        "/admin/v1/tenants/acme/keys",
        json={"id": "acme-ci", "limits": {"concurrent": 2}},
        headers=ADMIN,
    )
    assert response.status_code == 201
    issued = response.json()
    assert set(issued) == KEY_FIELDS | {"key"}
    key = issued["key"]
    assert key.startswith("sk-sov-")
    assert issued["id"] == "acme-ci"
    assert issued["tenant"] == "acme"
    assert issued["hint"] == key[-4:]
    assert issued["limits"]["concurrent"] == 2
    assert issued["active"] is True
    assert issued["revoked_at"] is None
    # Stored as its hash only: the hash matches, and the key appears nowhere in the store.
    (stored,) = await resources.tenant_admin.keys("acme")
    assert stored.hash == hash_key(key)
    assert key not in stored.model_dump_json()

    auto = await client.post("/admin/v1/tenants/acme/keys", headers=ADMIN)  # no body at all
    assert auto.status_code == 201
    assert auto.json()["id"].startswith("acme-")
    assert auto.json()["limits"] is None

    listed = await client.get("/admin/v1/tenants/acme/keys", headers=ADMIN)
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()] == ["acme-ci", auto.json()["id"]]
    assert all(set(k) == KEY_FIELDS for k in listed.json())
    assert "hash" not in listed.text
    assert stored.hash.split(":")[1] not in listed.text
    assert key not in listed.text
    assert auto.json()["key"] not in listed.text

    duplicate = await client.post(
        "/admin/v1/tenants/acme/keys", json={"id": "acme-ci"}, headers=ADMIN
    )
    assert assert_error(duplicate, 409, "invalid_request_error")["code"] == "conflict"
    nobody = await client.post("/admin/v1/tenants/nope/keys", json={}, headers=ADMIN)
    assert assert_error(nobody, 404, "not_found_error")["code"] == "tenant_not_found"
    listing = await client.get("/admin/v1/tenants/nope/keys", headers=ADMIN)
    assert_error(listing, 404, "not_found_error")
    extra = await client.post(
        "/admin/v1/tenants/acme/keys", json={"hash": "sha256:" + "0" * 64}, headers=ADMIN
    )
    assert assert_error(extra, 400, "invalid_request_error")["param"] == "hash"


async def test_rotate_with_grace_keeps_the_old_key_until_the_grace_ends(
    client: httpx.AsyncClient, resources: FakeResources
) -> None:
    await create(client, "acme")
    old = (
        await client.post(
            "/admin/v1/tenants/acme/keys",
            json={"id": "old", "limits": {"requests_per_minute": 5}},
            headers=ADMIN,
        )
    ).json()
    before = time.time()
    response = await client.post(
        "/admin/v1/tenants/acme/keys/old/rotate", json={"grace_seconds": 600}, headers=ADMIN
    )
    assert response.status_code == 201
    rotated = response.json()
    assert set(rotated) == KEY_FIELDS | {"key", "previous"}
    assert rotated["key"].startswith("sk-sov-")
    assert rotated["key"] != old["key"]
    assert rotated["id"] != "old"
    assert rotated["limits"] == old["limits"]  # a successor inherits the limits
    assert rotated["active"] is True
    previous = rotated["previous"]
    assert set(previous) == KEY_FIELDS
    assert previous["id"] == "old"
    assert previous["active"] is True  # still inside its grace period
    assert before + 600 <= previous["revoked_at"] <= time.time() + 600
    stored = {k.id: k for k in await resources.tenant_admin.keys("acme")}
    assert stored[rotated["id"]].hash == hash_key(rotated["key"])

    listed = (await client.get("/admin/v1/tenants/acme/keys", headers=ADMIN)).json()
    assert {k["id"]: k["active"] for k in listed} == {"old": True, rotated["id"]: True}

    # Without a body the grace is 0: the rotated key stops at once, and cannot be rotated again.
    now = await client.post(f"/admin/v1/tenants/acme/keys/{rotated['id']}/rotate", headers=ADMIN)
    assert now.status_code == 201
    assert now.json()["previous"]["active"] is False
    assert now.json()["previous"]["revoked_at"] == pytest.approx(time.time(), abs=5)
    again = await client.post(f"/admin/v1/tenants/acme/keys/{rotated['id']}/rotate", headers=ADMIN)
    assert assert_error(again, 409, "invalid_request_error")["code"] == "conflict"

    negative = await client.post(
        "/admin/v1/tenants/acme/keys/old/rotate", json={"grace_seconds": -1}, headers=ADMIN
    )
    assert assert_error(negative, 400, "invalid_request_error")["param"] == "grace_seconds"
    unknown = await client.post("/admin/v1/tenants/acme/keys/nope/rotate", headers=ADMIN)
    assert assert_error(unknown, 404, "not_found_error")["code"] == "key_not_found"


async def test_revoke_now_and_later(client: httpx.AsyncClient) -> None:
    await create(client, "acme")
    await create(client, "beta")
    for key_id in ("k1", "k2"):
        issued = await client.post(
            "/admin/v1/tenants/acme/keys", json={"id": key_id}, headers=ADMIN
        )
        assert issued.status_code == 201

    response = await client.delete("/admin/v1/tenants/acme/keys/k1", headers=ADMIN)
    assert response.status_code == 200
    revoked = response.json()
    assert set(revoked) == KEY_FIELDS
    assert revoked["active"] is False
    assert revoked["revoked_at"] == pytest.approx(time.time(), abs=5)

    later = await client.delete(
        "/admin/v1/tenants/acme/keys/k2", params={"after_seconds": 3600}, headers=ADMIN
    )
    assert later.json()["active"] is True
    assert later.json()["revoked_at"] == pytest.approx(time.time() + 3600, abs=5)

    listed = (await client.get("/admin/v1/tenants/acme/keys", headers=ADMIN)).json()
    assert {k["id"]: k["active"] for k in listed} == {"k1": False, "k2": True}

    negative = await client.delete(
        "/admin/v1/tenants/acme/keys/k2", params={"after_seconds": -5}, headers=ADMIN
    )
    assert assert_error(negative, 400, "invalid_request_error")["param"] == "after_seconds"
    other_tenant = await client.delete("/admin/v1/tenants/beta/keys/k2", headers=ADMIN)
    assert assert_error(other_tenant, 404, "not_found_error")["code"] == "key_not_found"
    still = (await client.get("/admin/v1/tenants/acme/keys", headers=ADMIN)).json()
    assert {k["id"]: k["active"] for k in still} == {"k1": False, "k2": True}


# Usage

NOV_1 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp()
DAY = 86400.0


def usage_record(
    request_id: str,
    started_at: float,
    *,
    tenant: str = "acme",
    model: str = "smollm2",
    key_id: str = "k1",
    status: str = "ok",
    prompt: int = 10,
    completion: int = 5,
) -> UsageRecord:
    return UsageRecord.model_validate(
        {
            "request_id": request_id,
            "tenant": tenant,
            "key_id": key_id,
            "endpoint": "chat.completions",
            "model": model,
            "pool": "de-muc",
            "site": "de-muc-1",
            "jurisdiction": "DE",
            "engine": "http://de-1.engine:8000",
            "stream": True,
            "status": status,
            "http_status": 200,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "usage_source": "engine",
            "estimated_tokens": prompt + 100,
            "started_at": started_at,
            "ttft_ms": None if status != "ok" else 12.5,
            "duration_ms": 250.0,
            "gateway": "gw-1",
        }
    )


async def seed(resources: FakeResources, *records: UsageRecord) -> None:
    for record in records:
        assert await resources.quota_store.meter(record, scopes=())


async def test_usage_totals_by_model_key_and_status(
    client: httpx.AsyncClient, resources: FakeResources
) -> None:
    await create(client, "acme")
    await create(client, "beta")
    await seed(
        resources,
        usage_record("r1", NOV_1 + 60, prompt=10, completion=5),
        usage_record("r2", NOV_1 + 120, key_id="k2", prompt=20, completion=0, status="aborted"),
        usage_record("r3", NOV_1 + DAY + 60, model="llama-70b", prompt=100, completion=50),
        usage_record("r4", NOV_1 + 2 * DAY + 60, prompt=1000, completion=1000),  # after "to"
        usage_record("r0", NOV_1 - 60, prompt=1000, completion=1000),  # before "from"
        usage_record("b1", NOV_1 + 60, tenant="beta", prompt=7, completion=7),  # not acme's
    )
    params = {"from": "2026-11-01", "to": "2026-11-03"}
    response = await client.get("/admin/v1/tenants/acme/usage", params=params, headers=ADMIN)
    assert response.status_code == 200
    report = response.json()
    assert report == {
        "tenant": "acme",
        "from": "2026-11-01T00:00:00Z",
        "to": "2026-11-03T00:00:00Z",
        "requests": 3,
        "prompt_tokens": 130,
        "completion_tokens": 55,
        "total_tokens": 185,
        "by_model": {
            "llama-70b": {
                "requests": 1,
                "prompt_tokens": 100,
                "completion_tokens": 50,
                "total_tokens": 150,
            },
            "smollm2": {
                "requests": 2,
                "prompt_tokens": 30,
                "completion_tokens": 5,
                "total_tokens": 35,
            },
        },
        "by_key": {
            "k1": {
                "requests": 2,
                "prompt_tokens": 110,
                "completion_tokens": 55,
                "total_tokens": 165,
            },
            "k2": {"requests": 1, "prompt_tokens": 20, "completion_tokens": 0, "total_tokens": 20},
        },
        "by_status": {
            "aborted": {
                "requests": 1,
                "prompt_tokens": 20,
                "completion_tokens": 0,
                "total_tokens": 20,
            },
            "ok": {
                "requests": 2,
                "prompt_tokens": 110,
                "completion_tokens": 55,
                "total_tokens": 165,
            },
        },
    }

    # "to" is exclusive, and a date and time narrows the range to the second.
    narrow = {"from": "2026-11-01T00:01:30Z", "to": "2026-11-02T00:01:00.250+00:00"}
    response = await client.get("/admin/v1/tenants/acme/usage", params=narrow, headers=ADMIN)
    assert response.json()["requests"] == 1  # r2 only: r3 ends exactly at "to"
    assert response.json()["by_key"] == {
        "k2": {"requests": 1, "prompt_tokens": 20, "completion_tokens": 0, "total_tokens": 20}
    }


async def test_usage_records_flag_includes_the_records(
    client: httpx.AsyncClient, resources: FakeResources
) -> None:
    await create(client, "acme")
    records = [
        usage_record("r2", NOV_1 + 120, status="aborted"),
        usage_record("r1", NOV_1 + 60),
    ]
    await seed(resources, *records)
    params = {"from": "2026-11-01", "to": "2026-12-01", "records": "true"}
    response = await client.get("/admin/v1/tenants/acme/usage", params=params, headers=ADMIN)
    body = response.json()
    assert body["requests"] == 2
    assert [UsageRecord.model_validate(r) for r in body["records"]] == [records[1], records[0]]
    assert body["records"][1]["ttft_ms"] is None  # nulls inside records are kept

    params["records"] = "false"
    without = await client.get("/admin/v1/tenants/acme/usage", params=params, headers=ADMIN)
    assert "records" not in without.json()
    assert without.json()["requests"] == 2


async def test_usage_defaults_to_this_month_so_far(
    client: httpx.AsyncClient, resources: FakeResources
) -> None:
    await create(client, "acme")
    now = dt.datetime.now(dt.UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    await seed(
        resources,
        usage_record("this-month", max(now.timestamp() - 5, month_start.timestamp())),
        usage_record("last-month", month_start.timestamp() - DAY),
        usage_record("future", now.timestamp() + DAY),
    )
    response = await client.get("/admin/v1/tenants/acme/usage", headers=ADMIN)
    body = response.json()
    assert dt.datetime.fromisoformat(body["from"]) == month_start
    assert dt.datetime.fromisoformat(body["to"]) == pytest.approx(now, abs=dt.timedelta(seconds=5))
    assert body["requests"] == 1


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-11-01", "to": "2026-13-01"}, "to"),
        ({"from": "2026-11-02", "to": "2026-11-01"}, "from"),
        ({"from": "2026-11-01", "to": "2026-11-01"}, "from"),
    ],
)
async def test_usage_rejects_bad_ranges(
    client: httpx.AsyncClient, params: dict[str, str], param: str
) -> None:
    await create(client, "acme")
    response = await client.get("/admin/v1/tenants/acme/usage", params=params, headers=ADMIN)
    assert assert_error(response, 400, "invalid_request_error")["param"] == param


async def test_usage_of_an_unknown_tenant_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/v1/tenants/nope/usage", headers=ADMIN)
    assert assert_error(response, 404, "not_found_error")["code"] == "tenant_not_found"


async def test_a_tenants_policy_is_set_and_changed_only_to_a_known_one(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client, "amt", policy="public-sector-strict")
    assert created["policy"] == "public-sector-strict"
    assert (await create(client, "plain"))["policy"] is None  # the gateway's default
    unknown = await client.post(
        "/admin/v1/tenants",
        json={"id": "x", "allowed_jurisdictions": ["DE"], "policy": "lenient"},
        headers=ADMIN,
    )
    error = assert_error(unknown, 400, "invalid_request_error")
    assert error["param"] == "policy"
    assert "gdpr-default" in error["message"]
    changed = await client.patch(
        "/admin/v1/tenants/amt", json={"policy": "contact-centre"}, headers=ADMIN
    )
    assert changed.json()["policy"] == "contact-centre"
    refused = await client.patch("/admin/v1/tenants/amt", json={"policy": "nope"}, headers=ADMIN)
    assert_error(refused, 400, "invalid_request_error")


async def test_a_tenants_preferred_sites_are_set_and_changed(client: httpx.AsyncClient) -> None:
    created = await create(client, "werk", preferred_sites=["de-muc-1", "de-bie-1"])
    assert created["preferred_sites"] == ["de-muc-1", "de-bie-1"]
    changed = await client.patch(
        "/admin/v1/tenants/werk", json={"preferred_sites": ["de-mag-1"]}, headers=ADMIN
    )
    assert changed.json()["preferred_sites"] == ["de-mag-1"]
    assert changed.json()["allowed_jurisdictions"] == ["DE"]  # a preference, not a licence


async def test_every_admin_change_is_handed_to_the_audit_trail_without_key_material() -> None:
    recorded: list[tuple[str, str, dict[str, str], list[str]]] = []
    actors: list[str] = []

    async def audit(
        action: str, tenant: str, target: dict[str, str], fields: list[str], *, actor: str
    ) -> None:
        recorded.append((action, tenant, target, fields))
        actors.append(actor)

    admin = TenantAdmin(MemoryDirectoryStore(), None, audit=audit)
    await admin.create_tenant(TenantSpec(id="amt"), actor="oidc:idp:ada")
    await admin.update_tenant("amt", {"degraded_mode": "fail_open"}, actor="token:ops")
    record, key = await admin.issue_key("amt", "amt-1", actor="cli")
    await admin.revoke_key("amt", "amt-1", actor="admin-token")
    assert [r[0] for r in recorded] == ["tenant.create", "tenant.update", "key.issue", "key.revoke"]
    assert actors == ["oidc:idp:ada", "token:ops", "cli", "admin-token"]
    assert recorded[1][3] == ["degraded_mode"]
    assert recorded[2][2] == {"key": "amt-1"}
    assert all(key not in str(r) and record.hash not in str(r) for r in recorded)


async def test_the_admin_api_sets_every_field_of_the_tenant_spec(
    client: httpx.AsyncClient, resources: FakeResources
) -> None:
    # One specification (gateway/core/tenant.py) for config, record and admin bodies: the
    # fields the admin API could not set before (ai_act_marker, retention_days) and the
    # configuration's defaults (DE) hold here too.
    created = await client.post(
        "/admin/v1/tenants",
        json={"id": "amt-spec", "ai_act_marker": True, "retention_days": 30},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    record = created.json()
    assert (record["allowed_jurisdictions"], record["ai_act_marker"]) == (["DE"], True)
    assert record["retention_days"] == 30
    patched = await client.patch(
        "/admin/v1/tenants/amt-spec", json={"retention_days": None}, headers=ADMIN
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["retention_days"] is None  # back to the gateway's default
    assert patched.json()["ai_act_marker"] is True  # not given: unchanged
    refused = await client.patch(
        "/admin/v1/tenants/amt-spec", json={"retention_days": 0}, headers=ADMIN
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "retention_days"


async def test_a_tenant_chooses_what_happens_when_its_clients_leave(
    client: httpx.AsyncClient, resources: FakeResources
) -> None:
    # Issue 14: abort by default (the gateway's setting); finish kept available per tenant.
    created = await client.post(
        "/admin/v1/tenants",
        json={"id": "amt-finish", "on_client_disconnect": "finish"},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    assert created.json()["on_client_disconnect"] == "finish"
    reset = await client.patch(
        "/admin/v1/tenants/amt-finish", json={"on_client_disconnect": None}, headers=ADMIN
    )
    assert reset.json()["on_client_disconnect"] is None  # back to the gateway's default
    refused = await client.patch(
        "/admin/v1/tenants/amt-finish", json={"on_client_disconnect": "later"}, headers=ADMIN
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "on_client_disconnect"
