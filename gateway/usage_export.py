"""Usage reports from ledger records: totals, CSV and JSON Lines, and the time range asked for.

Pure functions over ``list[UsageRecord]``; reading the ledger is the caller's business (the
admin API reads ``Metering.usage``, ``sovereign-gateway usage export`` the durable ledger in
PostgreSQL, ``gateway/ledger``). Ranges are
half-open, ``[from, to)``, in UTC: an ISO date means midnight UTC of that day, so
``--from 2026-11-01 --to 2026-12-01`` is exactly November.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, TextIO

import orjson

from gateway.core.usage import UsageRecord
from gateway.errors import InvalidRequest

Format = Literal["csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl")
# Declaration order of the record, then the one derived column a spreadsheet wants.
CSV_COLUMNS: tuple[str, ...] = (*UsageRecord.model_fields, "total_tokens")


def parse_instant(text: str, param: str = "from") -> dt.datetime:
    """An ISO 8601 date (midnight UTC) or date and time (UTC unless an offset is given)."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequest(
            f"Invalid value for '{param}': {text!r} is not an ISO 8601 date (2026-11-01) "
            "or date and time (2026-11-01T08:30:00Z).",
            param=param,
            code="invalid_value",
        ) from None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def month_start(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def time_range(
    start: str | None, end: str | None, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)``; by default from the start of the current UTC month until now."""
    until = parse_instant(end, "to") if end else now.astimezone(dt.UTC)
    since = parse_instant(start, "from") if start else month_start(now)
    if since >= until:
        raise InvalidRequest(
            f"The range is empty: 'from' ({since.isoformat()}) must lie before 'to' "
            f"({until.isoformat()}).",
            param="from",
            code="invalid_value",
        )
    return since, until


@dataclass(slots=True)
class Totals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def add(self, record: UsageRecord) -> None:
        self.requests += 1
        self.prompt_tokens += record.prompt_tokens
        self.completion_tokens += record.completion_tokens
        self.total_tokens += record.total_tokens


@dataclass(slots=True)
class Summary:
    totals: Totals = field(default_factory=Totals)
    by_model: dict[str, Totals] = field(default_factory=dict)
    by_key: dict[str, Totals] = field(default_factory=dict)
    by_status: dict[str, Totals] = field(default_factory=dict)


def summarise(records: Iterable[UsageRecord]) -> Summary:
    summary = Summary()
    for record in records:
        summary.totals.add(record)
        summary.by_model.setdefault(record.model, Totals()).add(record)
        summary.by_key.setdefault(record.key_id, Totals()).add(record)
        summary.by_status.setdefault(record.status, Totals()).add(record)
    return summary


# A text cell starting with one of these is run as a formula by spreadsheets (CSV injection):
# "=HYPERLINK(...)" in a model name or policy label would run on the reader's machine.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text  # shown as text (OWASP)


def write_csv(records: Iterable[UsageRecord], out: TextIO) -> int:
    """Header row, then one row per record; ``None`` is an empty cell; a text cell that a
    spreadsheet would run as a formula gets a leading ``'``. Open files with ``newline=""``:
    rows end in CRLF, as RFC 4180 has it."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for record in records:
        row = [_cell(getattr(record, column)) for column in CSV_COLUMNS]
        writer.writerow(row)
        count += 1
    return count


def write_jsonl(records: Iterable[UsageRecord], out: TextIO) -> int:
    """One JSON object per line, exactly the record (it validates back into a UsageRecord)."""
    count = 0
    for record in records:
        out.write(orjson.dumps(record.model_dump(mode="json")).decode())
        out.write("\n")
        count += 1
    return count


def export(records: Iterable[UsageRecord], fmt: Format, out: TextIO) -> int:
    """Write the records in ``fmt``; the number of records written."""
    if fmt == "csv":
        return write_csv(records, out)
    return write_jsonl(records, out)
