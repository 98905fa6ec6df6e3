"""The read side's pure computations: buckets, percentiles, groups, policy findings, and the
audit browser's ordering and cursor."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.admin.insight import (
    NO_USER,
    OTHER,
    Finding,
    bucket_starts,
    findings,
    parse_pii,
    percentile,
    series,
)
from gateway.admin.rules import looser
from gateway.audit.browse import Cursor, RecordQuery, keep_newest, matches
from gateway.audit.chain import ChainEntry
from gateway.core.limits import Limits
from gateway.core.usage import UsageRecord
from gateway.errors import InvalidRequest

DAY0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def record(at: dt.datetime, **fields: Any) -> UsageRecord:
    """A request that ended at ``at`` (it took one second)."""
    base: dict[str, Any] = {
        "request_id": "r",
        "tenant": "acme",
        "key_id": "k1",
        "endpoint": "chat.completions",
        "model": "smollm2",
        "pool": "de",
        "site": "de-muc-1",
        "jurisdiction": "DE",
        "engine": "http://e:8000",
        "stream": False,
        "status": "ok",
        "http_status": 200,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "usage_source": "engine",
        "estimated_tokens": 10,
        "started_at": at.timestamp() - 1.0,
        "ttft_ms": None,
        "duration_ms": 1000.0,
        "gateway": "gw",
    }
    return UsageRecord(**{**base, **fields})


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([4.0, 1.0, 3.0, 2.0], 0) == 1.0  # order does not matter
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile([float(n) for n in range(1, 101)], 95) == pytest.approx(95.05)


def test_buckets_are_utc_aligned_and_cover_the_whole_range() -> None:
    since = DAY0 + dt.timedelta(hours=5, minutes=30)
    until = DAY0 + dt.timedelta(days=2, hours=1)
    days = bucket_starts(since, until, "day")
    assert days == [DAY0, DAY0 + dt.timedelta(days=1), DAY0 + dt.timedelta(days=2)]
    hours = bucket_starts(since, since + dt.timedelta(hours=2), "hour")
    assert hours[0] == DAY0 + dt.timedelta(hours=5)
    assert len(hours) == 3  # 05:00, 06:00, 07:00 (the range ends at 07:30)
    with pytest.raises(InvalidRequest) as refused:
        bucket_starts(DAY0, DAY0 + dt.timedelta(days=365), "hour")
    assert refused.value.param == "bucket"


def test_series_counts_each_request_in_the_bucket_it_ended_in_zero_filled() -> None:
    records = [
        record(DAY0 + dt.timedelta(hours=1), ttft_ms=100.0),
        record(DAY0 + dt.timedelta(hours=2), ttft_ms=300.0, prompt_tokens=20),
        record(DAY0 + dt.timedelta(days=2, hours=3)),  # no first-token time (not streamed)
        record(DAY0 + dt.timedelta(days=9)),  # after the range: not counted
    ]
    found = series(records, DAY0, DAY0 + dt.timedelta(days=3), "day")
    assert [p.requests for p in found.points] == [2, 0, 1]
    assert [p.prompt_tokens for p in found.points] == [30, 0, 10]
    assert found.total.requests == 3
    assert found.total.total_tokens == 30 + 10 + 15
    assert sorted(found.points[0].ttft_ms) == [100.0, 300.0]
    assert found.points[2].ttft_ms == []
    assert found.groups == {}


def test_series_groups_by_key_model_or_user_biggest_first_and_the_rest_as_other() -> None:
    records = [
        record(DAY0, key_id="small", subject_ref="ref-a", model="m1", prompt_tokens=1),
        record(DAY0, key_id="big", subject_ref=None, model="m2", prompt_tokens=100),
        record(DAY0, key_id="mid", subject_ref="ref-b", model="m1", prompt_tokens=50),
    ]
    since, until = DAY0 - dt.timedelta(days=1), DAY0 + dt.timedelta(days=1)
    by_key = series(records, since, until, "day", "key")
    assert list(by_key.groups) == ["big", "mid", "small"]
    # ended at midnight: in the bucket that starts then, the second
    assert [t.requests for t in by_key.groups["big"]] == [0, 1]
    by_user = series(records, since, until, "day", "user")
    assert set(by_user.groups) == {"ref-a", "ref-b", NO_USER}
    capped = series(records, since, until, "day", "key", max_groups=1)
    assert list(capped.groups) == ["big", OTHER]
    assert sum(t.requests for t in capped.groups[OTHER]) == 2
    by_model = series(records, since, until, "day", "model")
    assert sum(t.prompt_tokens for t in by_model.groups["m1"]) == 51


def test_pii_summaries_add_up_by_type_and_action_and_never_carry_values() -> None:
    parsed = parse_pii("prompt:PERSON:pseudonymize=2,response:IBAN:mask=1,prompt:PERSON:flag=1")
    assert parsed == {
        Finding("prompt", "PERSON", "pseudonymize"): 2,
        Finding("response", "IBAN", "mask"): 1,
        Finding("prompt", "PERSON", "flag"): 1,
    }
    assert parse_pii(None) == {}
    assert parse_pii("garbage,prompt:X=notanumber,:A:b=1") == {}
    found = findings(
        [
            record(
                DAY0, pii="prompt:PERSON:pseudonymize=2", policy="gdpr@v1", policy_mode="enforce"
            ),
            record(DAY0, pii="prompt:PERSON:pseudonymize=1,response:IBAN:mask=1", policy="gdpr@v1"),
            record(DAY0, pii=None, policy="gdpr@v2", policy_mode="shadow"),
        ]
    )
    assert (found.requests, found.with_findings) == (3, 2)
    assert found.by_entity == {"IBAN": 1, "PERSON": 3}
    assert found.versions == {"gdpr@v1": 2, "gdpr@v2": 1}
    assert found.modes == {"enforce": 1, "shadow": 1}


def test_a_tenant_admin_may_tighten_limits_but_not_loosen_them() -> None:
    current = Limits(requests_per_minute=100, monthly_tokens=1000)
    assert looser(Limits(requests_per_minute=50, monthly_tokens=1000), current) == []
    assert looser(Limits(requests_per_minute=50, monthly_tokens=1000, concurrent=3), current) == []
    assert looser(Limits(requests_per_minute=200, monthly_tokens=1000), current) == [
        "requests_per_minute"
    ]
    # 0 is "no limit": lifting one is the loosest change of all
    assert looser(Limits(requests_per_minute=100), current) == ["monthly_tokens"]


def entry(
    seq: int, at: float, tenant: str | None = "acme", kind: str = "admin", **body: Any
) -> ChainEntry:
    return ChainEntry(
        seq=seq,
        at=at,
        tenant=tenant,
        kind=kind,
        body_digest="d",
        prev_hash="p",
        hash=f"h{seq}",
        body={"action": "key.issue", **body},
    )


def test_the_browser_lists_newest_first_and_pages_without_gaps_on_equal_times() -> None:
    entries = [entry(n, at=100.0 + n // 3) for n in range(1, 11)]  # three per second
    seen: list[int] = []
    before: Cursor | None = None
    while True:
        page = keep_newest(RecordQuery(before=before, limit=4), "main", entries)
        seen += [f.entry.seq for f in page]
        if len(page) < 4:
            break
        before = Cursor.parse(page[-1].cursor.text())
    assert seen == list(range(10, 0, -1))


def test_the_browser_filters_by_tenant_kind_action_and_time_and_skips_pruned_entries() -> None:
    pruned = entry(1, 50.0).without_body()
    other = entry(2, 60.0, tenant="other")
    wide = entry(3, 70.0, tenant=None, action="subject.erase")
    request = entry(4, 80.0, kind="request")
    own = entry(5, 90.0)
    query = RecordQuery(tenants=frozenset({"acme"}))
    assert [e.seq for e in (pruned, other, wide, request, own) if matches(query, "c", e)] == [4, 5]
    assert not matches(RecordQuery(), "c", pruned)
    assert matches(RecordQuery(), "c", wide)  # None: every entry, gateway-wide ones too
    assert not matches(RecordQuery(kind="admin"), "c", request)
    assert matches(RecordQuery(action="subject.erase"), "c", wide)
    assert not matches(RecordQuery(action="subject.erase"), "c", own)
    assert not matches(RecordQuery(since=85.0), "c", request)


def test_bad_cursors_and_limits_are_400s() -> None:
    with pytest.raises(InvalidRequest) as bad:
        Cursor.parse("yesterday")
    assert bad.value.param == "before"
    with pytest.raises(InvalidRequest):
        RecordQuery(limit=0)
    cursor = Cursor(1.5, "gw|7", 3)  # a chain's name may hold the separator
    assert Cursor.parse(cursor.text()) == cursor
