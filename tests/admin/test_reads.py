"""The read side through the real gateway: usage series and CSV, the policy in force and what
it found, the audit trail's verification and its entries (metadata only, paged)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
import time
from typing import Any

import httpx

from gateway.usage_export import CSV_COLUMNS
from tests.admin.conftest import ACME, NAMED, OTHER, PLATFORM_TOKEN, World

TODAY = dt.datetime.now(dt.UTC).date().isoformat()
RAW_USERS = ("kundin-4711", "kunde-0815", "fremd-1")
REF = re.compile(r"^[0-9a-f]{64}$")


def get(client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_usage_series_adds_up_to_the_report_per_bucket_and_group(world: World) -> None:
    with world.admin(NAMED["tenant_admin"][1]) as admin:
        report = get(admin, f"/tenants/{ACME}/usage", **{"from": TODAY})
        hourly = get(
            admin, f"/tenants/{ACME}/usage/series", bucket="hour", by="user", **{"from": TODAY}
        )
        by_key = get(admin, f"/tenants/{ACME}/usage/series", by="key", **{"from": TODAY})
        by_model = get(admin, f"/tenants/{ACME}/usage/series", by="model", **{"from": TODAY})
    assert report["requests"] >= 3
    for found in (hourly, by_key, by_model):
        assert found["tenant"] == ACME
        assert found["totals"]["requests"] == report["requests"]
        assert found["totals"]["total_tokens"] == report["total_tokens"]
        assert sum(p["requests"] for p in found["points"]) == report["requests"]
        assert sum(g["requests"] for g in found["groups"]) == report["requests"]
    assert hourly["bucket"] == "hour"
    assert by_key["bucket"] == "day"
    starts = [dt.datetime.fromisoformat(p["start"]) for p in hourly["points"]]
    assert starts[0] == dt.datetime.fromisoformat(TODAY + "T00:00:00+00:00")
    assert all(b - a == dt.timedelta(hours=1) for a, b in itertools.pairwise(starts))
    # Users are subject references (two users, and the request that named none), never ids
    names = {g["name"] for g in hourly["groups"]}
    assert "(none)" in names
    assert len(names) == 3
    assert all(REF.match(n) for n in names - {"(none)"})
    assert not any(raw in str(hourly) for raw in RAW_USERS)
    assert {g["name"] for g in by_key["groups"]} == {f"{ACME}-1"}
    assert {g["name"] for g in by_model["groups"]} == {"smollm2"}
    # Streamed requests have a first-token time; the percentiles come from them
    assert hourly["totals"]["ttft_p50_ms"] is not None
    assert hourly["totals"]["ttft_p95_ms"] >= hourly["totals"]["ttft_p50_ms"]


def test_bad_series_parameters_are_400s(world: World) -> None:
    with world.admin(PLATFORM_TOKEN) as admin:
        too_many = admin.get(
            f"/tenants/{ACME}/usage/series", params={"bucket": "hour", "from": "2020-01-01"}
        )
        assert too_many.status_code == 400
        assert too_many.json()["error"]["param"] == "bucket"
        assert admin.get(f"/tenants/{ACME}/usage/series", params={"by": "ip"}).status_code == 400
        assert (
            admin.get(f"/tenants/{ACME}/usage/series", params={"to": "2000-01-01"}).status_code
            == 400
        )


def test_usage_csv_is_the_export_format(world: World) -> None:
    with world.admin(NAMED["auditor"][1]) as admin:
        response = admin.get(f"/tenants/{ACME}/usage.csv", params={"from": TODAY})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    data = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(data) >= 3
    assert {r["tenant"] for r in data} == {ACME}
    assert not any(raw in response.text for raw in RAW_USERS)


def test_the_policy_view_shows_the_rules_and_what_they_found_never_values(world: World) -> None:
    with world.admin(NAMED["tenant_admin"][1]) as admin:
        view = get(admin, f"/tenants/{ACME}/policy", **{"from": TODAY})
    assert (view["tenant"], view["policy"], view["source"]) == (ACME, "gdpr-default", "default")
    assert view["label"] == f"gdpr-default@{view['version']}"
    assert view["rules"]
    assert view["default_rule"]["prompt"]
    assert view["requests"] >= 3
    assert view["requests_with_findings"] >= 1
    assert view["by_entity"].get("PERSON", 0) >= 1
    assert any(f["entity"] == "PERSON" and f["direction"] == "prompt" for f in view["findings"])
    assert view["versions_seen"] == {view["label"]: view["requests"]}
    assert view["modes"] == {"enforce": view["requests"]}
    assert "Erika" not in str(view)
    assert "Musterfrau" not in str(view)


def test_audit_verify_answers_what_the_cli_checks(world: World) -> None:
    with world.admin(NAMED["auditor"][1]) as admin:
        found = get(admin, "/audit/verify")
    assert found["ok"] is True, found["summary"]
    assert found["problem_count"] == 0
    assert found["problems"] == []
    assert found["entries"] >= 4
    assert found["chains"]
    assert all(c["ok"] for c in found["chains"].values())
    assert found["summary"].startswith("intact")


def request_records(admin: httpx.Client, tenant: str | None, at_least: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        params = {"kind": "request"} | ({"tenant": tenant} if tenant else {})
        records: list[dict[str, Any]] = get(admin, "/audit/records", **params)["records"]
        if len(records) >= at_least or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def test_audit_records_carry_metadata_only_and_a_tenant_admin_sees_its_own(world: World) -> None:
    with world.admin(NAMED["tenant_admin"][1]) as admin:
        own = request_records(admin, None, at_least=3)
        everything = get(admin, "/audit/records", limit=500)["records"]
    assert len(own) >= 3
    assert {r["tenant"] for r in everything} == {ACME}  # its admin entries too, nobody else's
    for record in own:
        assert record["kind"] == "request"
        assert record["request_id"]
        assert record["model"] == "smollm2"
        assert record["actor"] is None
        assert "subject_ref" not in record
        assert "content" not in record
    assert {r["erasable"] for r in own} >= {"present", None}  # with a user, and without
    text = str(everything)
    assert not any(raw in text for raw in RAW_USERS)
    assert "Erika" not in text
    assert any(r["pii"] and "PERSON" in r["pii"] for r in own)
    with world.admin(NAMED["auditor"][1]) as admin:
        others = request_records(admin, OTHER, at_least=1)
    assert others
    assert {r["tenant"] for r in others} == {OTHER}


def test_audit_records_page_newest_first_without_gaps(world: World) -> None:
    with world.admin(PLATFORM_TOKEN) as admin:
        whole = get(admin, "/audit/records", tenant=ACME, limit=500)["records"]
        paged: list[dict[str, Any]] = []
        before = None
        while True:
            params: dict[str, Any] = {"tenant": ACME, "limit": 2}
            if before:
                params["before"] = before
            page = get(admin, "/audit/records", **params)
            paged += page["records"]
            before = page["next_before"]
            if before is None:
                break
        assert admin.get("/audit/records", params={"before": "nonsense"}).status_code == 400
        assert admin.get("/audit/records", params={"limit": 0}).status_code == 400
    key = [(r["chain"], r["seq"]) for r in paged]
    assert len(set(key)) == len(key)
    assert [r["at"] for r in paged] == sorted((r["at"] for r in paged), reverse=True)
    assert key == [(r["chain"], r["seq"]) for r in whole]  # nothing was written meanwhile
