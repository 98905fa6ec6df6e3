"""A change made through a replica's admin API is in force on that replica at once: a
revoked key is refused by the replica that revoked it on the very next request, not after its
next poll of the directory (other replicas follow within the poll interval)."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth import hash_key
from tests.unit.conftest import FakeEngines, make_settings

ADMIN_TOKEN = "sk-admin-directory-test"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def test_a_key_revoked_here_is_refused_here_at_once() -> None:
    settings = make_settings(
        admin={"token_hash": hash_key(ADMIN_TOKEN)},
        store={"directory_poll_interval": 1.0},  # the longest: a poll cannot hide the fault
    )
    app = create_app(settings, upstream_transport=httpx.MockTransport(FakeEngines()))
    with TestClient(app) as client:
        created = client.post("/admin/v1/tenants", json={"id": "fresh"}, headers=ADMIN)
        assert created.status_code == 201, created.text
        issued = client.post("/admin/v1/tenants/fresh/keys", json={}, headers=ADMIN).json()
        tenant_key = {"authorization": f"Bearer {issued['key']}"}
        assert client.get("/v1/models", headers=tenant_key).status_code == 200  # issued: in force
        revoked = client.delete(f"/admin/v1/tenants/fresh/keys/{issued['id']}", headers=ADMIN)
        assert revoked.status_code == 200
        assert client.get("/v1/models", headers=tenant_key).status_code == 401
