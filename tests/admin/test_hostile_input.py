"""Hostile values in what administration reads and writes: a spreadsheet formula in a usage
export (the admin API's CSV and the console's are one writer), a grace period of "inf"."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from pydantic import ValidationError

from gateway.admin.schemas import KeyRotate
from gateway.usage_export import CSV_COLUMNS, write_csv
from tests.admin.test_insight import record

FORMULAS = ("=HYPERLINK(\"https://evil.example\",\"x\")", "+1+1", "-2-5", "@SUM(A1)",
            "\t=1", "\r=1")  # fmt: skip


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(formula: str) -> None:
    hostile = record(dt.datetime(2026, 11, 2, tzinfo=dt.UTC), model=formula, request_id=formula,
                     prompt_tokens=3, policy=formula)  # fmt: skip
    out = io.StringIO(newline="")
    write_csv([hostile], out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    row = dict(zip(CSV_COLUMNS, rows[1], strict=True))
    for column in ("model", "request_id", "policy"):
        assert row[column] == "'" + formula, column  # a leading quote: text, not a formula
    assert row["prompt_tokens"] == "3"  # numbers stay numbers (a negative one too)
    assert row["tenant"] == "acme"


def test_a_negative_number_is_still_a_number() -> None:
    out = io.StringIO(newline="")
    write_csv([record(dt.datetime(2026, 11, 2, tzinfo=dt.UTC), ttft_ms=-1.5)], out)
    row = dict(zip(CSV_COLUMNS, list(csv.reader(io.StringIO(out.getvalue())))[1], strict=True))
    assert row["ttft_ms"] == "-1.5"


@pytest.mark.parametrize("grace", ["inf", "-inf", "nan", "1e400", -1])
def test_a_grace_period_is_a_finite_number_of_seconds(grace: object) -> None:
    with pytest.raises(ValidationError):
        KeyRotate.model_validate({"grace_seconds": grace})
    assert KeyRotate.model_validate({"grace_seconds": "600"}).grace_seconds == 600
