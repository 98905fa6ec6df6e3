"""Every admin action is in the audit trail under the identity that made it: a person's JWT
(``oidc:<issuer>:<subject>``), a named token (``token:<id>``) or the platform admin's token
(``admin-token``); and the trail, read back through the API, shows it without key material."""

from __future__ import annotations

import time
import uuid
from typing import Any

from prometheus_client import REGISTRY

from tests.admin.conftest import ACME, NAMED, PLATFORM_TOKEN, World


def admin_records(world: World, action: str, **match: Any) -> list[dict[str, Any]]:
    """The admin entries of ``action`` (newest first) whose target has ``match``."""
    with world.admin(PLATFORM_TOKEN) as admin:
        page = admin.get("/audit/records", params={"kind": "admin", "limit": 200}).json()
    return [
        r
        for r in page["records"]
        if r["action"] == action and all(r["target"].get(k) == v for k, v in match.items())
    ]


def test_each_action_is_recorded_under_its_actor(world: World) -> None:
    person = f"ada-{uuid.uuid4().hex[:6]}@corp.example"
    with world.admin(world.jwt("gw-platform", sub=person)) as admin:
        issued = admin.post(f"/tenants/{ACME}/keys", json={"id": f"k-jwt-{uuid.uuid4().hex[:6]}"})
        assert issued.status_code == 201, issued.text
    key = issued.json()
    with world.admin(NAMED["tenant_admin"][1]) as admin:
        rotated = admin.post(f"/tenants/{ACME}/keys/{key['id']}/rotate", json={})
        assert rotated.status_code == 201, rotated.text
    with world.admin(PLATFORM_TOKEN) as admin:
        successor = rotated.json()["id"]
        assert admin.delete(f"/tenants/{ACME}/keys/{successor}").status_code == 200

    (issue,) = admin_records(world, "key.issue", key=key["id"])
    assert issue["actor"] == f"oidc:corp:{person}"
    assert issue["tenant"] == ACME
    revokes = admin_records(world, "key.revoke", key=key["id"])
    assert [r["actor"] for r in revokes] == ["token:acme-bot"]  # the rotation's revocation
    (successor_issue,) = admin_records(world, "key.issue", key=successor)
    assert successor_issue["actor"] == "token:acme-bot"
    (revoke,) = admin_records(world, "key.revoke", key=successor)
    assert revoke["actor"] == "admin-token"
    for record in (issue, successor_issue, revoke):
        assert key["key"] not in str(record)
        assert rotated.json()["key"] not in str(record)


def test_an_erasure_names_its_dpo_and_lists_its_receipt(world: World) -> None:
    dpo = f"dora-{uuid.uuid4().hex[:6]}"
    subject = f"kundin-{uuid.uuid4().hex[:6]}"
    with world.admin(world.jwt("gw-dpo", sub=dpo)) as admin:
        receipt = admin.post("/subjects/erase", json={"subject": subject})
        assert receipt.status_code == 200, receipt.text
        listed = admin.get("/audit/erasures").json()
    found = [e for e in listed if e["digest"] == receipt.json()["digest"]]
    assert len(found) == 1
    assert found[0]["actor"] == f"oidc:corp:{dpo}"
    assert found[0]["seq"] == receipt.json()["audit_seq"]
    assert found[0]["chain"] == receipt.json()["audit_chain"]
    assert set(found[0]["counts"]) >= {"audit", "ledger"}
    assert subject not in str(listed)
    with world.admin(NAMED["auditor"][1]) as auditor:  # auditors read the receipts too
        assert receipt.json()["digest"] in auditor.get("/audit/erasures").text


def test_refused_admin_credentials_are_counted_as_before(world: World) -> None:
    def count(reason: str) -> float:
        labels = {"surface": "admin", "reason": reason}
        return REGISTRY.get_sample_value("sovereign_auth_failures_total", labels) or 0.0

    before = count("bad_signature"), count("unknown_key")
    forged = world.jwt("gw-platform")
    forged = forged[:-4] + ("AAAA" if not forged.endswith("AAAA") else "BBBB")
    with world.admin(forged) as admin:
        assert admin.get("/tenants").status_code == 401
    with world.admin("sk-wrong-admin") as admin:
        assert admin.get("/tenants").status_code == 401
    deadline = time.monotonic() + 5
    while (count("bad_signature"), count("unknown_key")) != (before[0] + 1, before[1] + 1):
        assert time.monotonic() < deadline, (before, count("bad_signature"))
        time.sleep(0.05)
