"""State changes: CSRF, tenants, limits, policy, keys (shown once), erasure, verification."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.console.conftest import ALICE, DORA, ORIGIN, TOM, csrf_of, sign_in
from tests.console.fake_idp import FakeIdP


def _token(client: TestClient, path: str = "/console") -> str:
    return csrf_of(client.get(path).text)


def test_a_post_without_the_token_or_from_elsewhere_is_refused(
    client: TestClient, idp: FakeIdP
) -> None:
    sign_in(client, idp, ALICE)
    token = _token(client)
    url = "/console/tenants/acme-de/keys"
    assert client.post(url, data={}, headers=ORIGIN).status_code == 403
    assert client.post(url, data={"csrf_token": "wrong"}, headers=ORIGIN).status_code == 403
    evil = {"origin": "https://evil.example"}
    assert client.post(url, data={"csrf_token": token}, headers=evil).status_code == 403
    cross_site = {"sec-fetch-site": "cross-site"}
    assert client.post(url, data={"csrf_token": token}, headers=cross_site).status_code == 403
    keys = client.get("/console/tenants/acme-de").text
    assert keys.count('data-testid="key-row-') == 1  # nothing was issued
    assert client.post(url, data={"csrf_token": token}, headers=ORIGIN).status_code == 200


def test_a_get_never_changes_anything(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, ALICE)
    assert client.get("/console/tenants/acme-de/keys").status_code == 404
    assert client.get("/console/auth/logout").status_code == 404
    assert client.get("/console").status_code == 200  # still signed in


def test_a_new_key_is_shown_once(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, TOM)
    token = _token(client, "/console/tenants/acme-de")
    issued = client.post(
        "/console/tenants/acme-de/keys",
        data={"csrf_token": token, "key_id": "tom-key"},
        headers=ORIGIN,
    )
    assert issued.status_code == 200
    assert issued.headers["cache-control"] == "no-store"
    secret = issued.text.split('data-testid="key-secret">')[1].split("<")[0]
    assert len(secret) > 20
    detail = client.get("/console/tenants/acme-de").text
    assert 'data-testid="key-row-tom-key"' in detail
    assert secret not in detail
    rotated = client.post(
        "/console/tenants/acme-de/keys/tom-key/rotate", data={"csrf_token": token}, headers=ORIGIN
    )
    assert rotated.status_code == 200
    new_secret = rotated.text.split('data-testid="key-secret">')[1].split("<")[0]
    assert new_secret != secret
    revoked = client.post(
        "/console/tenants/acme-de/keys/tom-key/revoke", data={"csrf_token": token}, headers=ORIGIN
    )
    assert revoked.status_code == 303
    after = client.get(revoked.headers["location"]).text
    assert 'data-testid="flash"' in after
    assert 'data-testid="key-status-tom-key" data-status="revoked"' in after
    assert secret not in after
    assert new_secret not in after


def test_limits_and_policy_within_a_tenant_admins_rights(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, TOM)
    token = _token(client, "/console/tenants/acme-de")
    limits = {
        "csrf_token": token,
        "requests_per_minute": "600",
        "tokens_per_minute": "",
        "concurrent": "",
        "monthly_tokens": "",
    }
    saved = client.post("/console/tenants/acme-de/limits", data=limits, headers=ORIGIN)
    assert saved.status_code == 303
    assert (
        'value="600" data-testid="limit-requests_per_minute"'
        in client.get("/console/tenants/acme-de").text
    )
    looser = client.post(
        "/console/tenants/acme-de/limits",
        data={**limits, "requests_per_minute": "0"},
        headers=ORIGIN,
    )
    assert looser.status_code == 403  # a tenant admin may tighten, never loosen
    bad = client.post(
        "/console/tenants/acme-de/limits", data={**limits, "concurrent": "-1"}, headers=ORIGIN
    )
    assert bad.status_code == 400
    other = client.post(
        "/console/tenants/limited/policy", data={"csrf_token": token, "policy": ""}, headers=ORIGIN
    )
    assert other.status_code == 404


def test_a_platform_admin_creates_a_tenant(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, ALICE)
    token = _token(client, "/console/tenants")
    made = client.post(
        "/console/tenants",
        data={"csrf_token": token, "id": "newco", "jurisdictions": "de, at", "policy": ""},
        headers=ORIGIN,
    )
    assert made.status_code == 303
    assert made.headers["location"] == "/console/tenants/newco?done=created"
    page = client.get(made.headers["location"]).text
    assert 'data-testid="tenant-jurisdictions">DE, AT<' in page
    again = client.post(
        "/console/tenants", data={"csrf_token": token, "id": "newco"}, headers=ORIGIN
    )
    assert again.status_code == 409
    assert (
        client.post(
            "/console/tenants", data={"csrf_token": token, "id": "bad id!"}, headers=ORIGIN
        ).status_code
        == 400
    )


def test_erasure_receipt_and_verification(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, DORA)
    token = _token(client, "/console/audit")
    receipt = client.post(
        "/console/audit/erasure", data={"csrf_token": token, "subject": "user-42"}, headers=ORIGIN
    )
    assert receipt.status_code == 200
    assert 'data-testid="erasure-receipt"' in receipt.text
    assert "user-42" not in receipt.text
    digest = receipt.text.split('data-testid="receipt-digest">')[1].split("<")[0]
    listed = client.get("/console/audit").text
    assert digest in listed
    assert 'data-testid="receipt-row"' in listed
    verified = client.post("/console/audit/verify", data={"csrf_token": token}, headers=ORIGIN)
    assert verified.status_code == 200
    assert 'data-testid="audit-verify-result" data-ok="true"' in verified.text


def test_a_rotation_may_keep_the_old_key_for_a_grace_period(
    client: TestClient, idp: FakeIdP
) -> None:
    sign_in(client, idp, TOM)
    page = client.get("/console/tenants/acme-de").text
    token = csrf_of(page)
    for key_id in ("graced", "at-once"):
        made = client.post(
            "/console/tenants/acme-de/keys",
            data={"csrf_token": token, "key_id": key_id},
            headers=ORIGIN,
        )
        assert made.status_code == 200
    page = client.get("/console/tenants/acme-de").text
    assert 'name="grace_seconds"' in page
    assert 'data-testid="key-grace-graced"' in page
    rotate = "/console/tenants/acme-de/keys/{}/rotate"
    for bad in ("-1", "soon", "inf", "nan", "1e400"):
        refused = client.post(
            rotate.format("graced"),
            data={"csrf_token": token, "grace_seconds": bad},
            headers=ORIGIN,
        )
        assert refused.status_code == 400, bad
    assert (
        'data-testid="key-status-graced" data-status="active"'
        in client.get("/console/tenants/acme-de").text
    )  # nothing was rotated
    graced = client.post(
        rotate.format("graced"), data={"csrf_token": token, "grace_seconds": "600"}, headers=ORIGIN
    )
    assert graced.status_code == 200
    assert graced.headers["cache-control"] == "no-store"  # the new key is in this page only
    secret = graced.text.split('data-testid="key-secret">')[1].split("<")[0]
    at_once = client.post(
        rotate.format("at-once"), data={"csrf_token": token, "grace_seconds": ""}, headers=ORIGIN
    )
    assert at_once.status_code == 200  # empty: the default, 0
    after = client.get("/console/tenants/acme-de").text
    assert 'data-testid="key-status-graced" data-status="expiring"' in after
    assert 'data-testid="key-status-at-once" data-status="revoked"' in after
    assert secret not in after
