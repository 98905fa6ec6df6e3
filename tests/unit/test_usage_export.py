"""Usage export: CSV and JSON Lines that read back into the records, and the time range."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import orjson
import pytest

from gateway.core.usage import UsageRecord
from gateway.errors import InvalidRequest
from gateway.usage_export import (
    CSV_COLUMNS,
    export,
    parse_instant,
    summarise,
    time_range,
    write_csv,
    write_jsonl,
)

UTC = dt.UTC


def record(request_id: str, **changes: Any) -> UsageRecord:
    data: dict[str, Any] = {
        "request_id": request_id,
        "tenant": "acme",
        "key_id": "acme-1",
        "endpoint": "chat.completions",
        "model": "smollm2",
        "pool": "de-muc",
        "site": "de-muc-1",
        "jurisdiction": "DE",
        "engine": "http://de-1.engine:8000",
        "stream": True,
        "status": "ok",
        "http_status": 200,
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "usage_source": "engine",
        "estimated_tokens": 268,
        "started_at": 1793491200.125,
        "ttft_ms": 41.75,
        "duration_ms": 812.5,
        "gateway": 'gw-a, "quoted"\nnewline',  # CSV must quote this properly
    }
    return UsageRecord.model_validate({**data, **changes})


RECORDS = [
    record("r1"),
    record(
        "r2",
        stream=False,
        status="failed",
        http_status=502,
        ttft_ms=None,
        usage_source="estimate",
        admitted_shared=False,
        completion_tokens=0,
    ),
    record("r3", model="llama-70b", key_id="acme-2", status="aborted", prompt_tokens=7),
]


def from_csv_row(row: dict[str, str]) -> UsageRecord:
    fields = {k: (None if v == "" else v) for k, v in row.items() if k != "total_tokens"}
    return UsageRecord.model_validate(fields)


def test_csv_header_is_the_record_fields_in_order_plus_total_tokens() -> None:
    out = io.StringIO()
    write_csv([], out)
    header = next(csv.reader(io.StringIO(out.getvalue())))
    assert header == [*UsageRecord.model_fields, "total_tokens"]
    assert header[:3] == ["request_id", "tenant", "key_id"]
    assert header[-5:] == ["policy", "policy_mode", "pii", "subject_ref", "total_tokens"]
    assert tuple(header) == CSV_COLUMNS


def test_csv_round_trips_through_the_csv_module() -> None:
    out = io.StringIO(newline="")
    assert write_csv(RECORDS, out) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert len(rows) == 3
    assert [from_csv_row(row) for row in rows] == RECORDS
    assert [int(row["total_tokens"]) for row in rows] == [42, 12, 37]
    assert rows[1]["ttft_ms"] == ""  # None is an empty cell
    assert [row["stream"] for row in rows] == ["true", "false", "true"]
    assert rows[1]["admitted_shared"] == "false"
    assert rows[0]["started_at"] == "1793491200.125"


def test_jsonl_lines_parse_back_into_records() -> None:
    out = io.StringIO()
    assert write_jsonl(RECORDS, out) == 3
    text = out.getvalue()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == 3
    assert [UsageRecord.model_validate(orjson.loads(line)) for line in lines] == RECORDS
    assert orjson.loads(lines[1])["ttft_ms"] is None


def test_export_picks_the_format() -> None:
    as_csv, as_jsonl = io.StringIO(), io.StringIO()
    assert export(RECORDS[:2], "csv", as_csv) == 2
    assert export(RECORDS[:2], "jsonl", as_jsonl) == 2
    assert as_csv.getvalue().startswith("request_id,tenant,")
    assert orjson.loads(as_jsonl.getvalue().splitlines()[0])["request_id"] == "r1"
    empty = io.StringIO()
    assert export([], "jsonl", empty) == 0
    assert empty.getvalue() == ""


def test_summarise_totals_and_groups() -> None:
    summary = summarise(RECORDS)
    assert (summary.totals.requests, summary.totals.total_tokens) == (3, 42 + 12 + 37)
    assert summary.totals.prompt_tokens == 12 + 12 + 7
    assert {m: t.requests for m, t in summary.by_model.items()} == {"smollm2": 2, "llama-70b": 1}
    assert {k: t.total_tokens for k, t in summary.by_key.items()} == {"acme-1": 54, "acme-2": 37}
    assert set(summary.by_status) == {"ok", "failed", "aborted"}
    assert summarise([]).totals.requests == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", dt.datetime(2026, 11, 1, tzinfo=UTC)),
        (" 2026-11-01 ", dt.datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T08:30:00", dt.datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
        ("2026-11-01T08:30:00Z", dt.datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
        ("2026-11-01T09:30:00+01:00", dt.datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
        ("2026-11-01 08:30:00.5", dt.datetime(2026, 11, 1, 8, 30, 0, 500000, tzinfo=UTC)),
    ],
)
def test_parse_instant_is_utc(text: str, expected: dt.datetime) -> None:
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "01/11/2026", "2026-11-31"])
def test_bad_dates_are_a_clear_error(text: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_instant(text, "to")
    assert caught.value.param == "to"
    assert caught.value.status == 400
    assert repr(text) in caught.value.message
    assert "ISO 8601" in caught.value.message


def test_time_range_defaults_to_this_month_so_far() -> None:
    now = dt.datetime(2026, 11, 17, 13, 45, 10, tzinfo=UTC)
    assert time_range(None, None, now) == (dt.datetime(2026, 11, 1, tzinfo=UTC), now)
    assert time_range("2026-10-01", None, now)[0] == dt.datetime(2026, 10, 1, tzinfo=UTC)
    assert time_range(None, "2026-11-02", now) == (
        dt.datetime(2026, 11, 1, tzinfo=UTC),
        dt.datetime(2026, 11, 2, tzinfo=UTC),
    )
    # A "now" given in another zone still means the UTC month.
    cet = dt.timezone(dt.timedelta(hours=1))
    early = dt.datetime(2026, 12, 1, 0, 30, tzinfo=cet)  # still November in UTC
    assert time_range(None, None, early)[0] == dt.datetime(2026, 11, 1, tzinfo=UTC)


def test_time_range_must_not_be_empty() -> None:
    now = dt.datetime(2026, 11, 17, tzinfo=UTC)
    with pytest.raises(InvalidRequest, match="empty") as caught:
        time_range("2026-11-02", "2026-11-02", now)
    assert caught.value.param == "from"
    with pytest.raises(InvalidRequest, match="empty"):
        time_range("2026-11-20", None, now)  # from after now
