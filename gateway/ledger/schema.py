"""The ledger's tables and its monthly partitions: names and SQL, no I/O.

``usage_ledger`` is partitioned by range on the record's end time (unix seconds, a double:
exactly the value ``UsageRecord.finished_at`` compares), one partition per UTC month, named
``usage_ledger_YYYYMM``. ``ledger_ids`` holds every id once (the exactly-once authority);
``ledger_erased`` the erasure tombstones that strip records arriving after an erasure.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
PARTITION = re.compile(r"^usage_ledger_(\d{4})(\d{2})$")

DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {records} (
    tenant text NOT NULL,
    request_id text NOT NULL,
    finished_at double precision NOT NULL,
    status text NOT NULL,
    subject_ref text,
    prompt_tokens bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    record jsonb NOT NULL
) PARTITION BY RANGE (finished_at);
CREATE INDEX IF NOT EXISTS usage_ledger_tenant_time ON {records} (tenant, finished_at);
CREATE INDEX IF NOT EXISTS usage_ledger_subject ON {records} (subject_ref)
    WHERE subject_ref IS NOT NULL;
CREATE TABLE IF NOT EXISTS {ids} (
    tenant text NOT NULL,
    request_id text NOT NULL,
    finished_at double precision NOT NULL,
    orphaned boolean NOT NULL,
    PRIMARY KEY (tenant, request_id)
);
CREATE INDEX IF NOT EXISTS ledger_ids_time ON {ids} (finished_at);
CREATE TABLE IF NOT EXISTS {erased} (
    subject_ref text NOT NULL,
    erased_at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_erased_subject ON {erased} (subject_ref, erased_at);
"""

# One batch from one JSON array. A record whose subject was erased after it ended (it was in
# a stream or a spool meanwhile) lands without the reference; an id held before lands only
# over an orphan settlement, which it replaces.
INSERT = """
WITH given AS (
    SELECT * FROM jsonb_to_recordset(%s::jsonb) AS b(
        tenant text, request_id text, finished_at double precision, status text,
        subject_ref text, prompt_tokens bigint, completion_tokens bigint, record jsonb)
), batch AS (
    SELECT g.tenant, g.request_id, g.finished_at, g.status,
           CASE WHEN e.hit THEN NULL ELSE g.subject_ref END AS subject_ref,
           g.prompt_tokens, g.completion_tokens,
           CASE WHEN e.hit THEN g.record - 'subject_ref' ELSE g.record END AS record
    FROM given g LEFT JOIN LATERAL (
        SELECT true AS hit FROM {erased} x
        WHERE x.subject_ref = g.subject_ref AND x.erased_at >= g.finished_at LIMIT 1
    ) e ON true
), replaced AS (
    SELECT i.tenant, i.request_id, i.finished_at FROM {ids} i
    JOIN batch b USING (tenant, request_id) WHERE i.orphaned AND b.status <> 'orphaned'
), claimed AS (
    INSERT INTO {ids} (tenant, request_id, finished_at, orphaned)
    SELECT tenant, request_id, finished_at, status = 'orphaned' FROM batch
    ON CONFLICT (tenant, request_id) DO UPDATE
        SET finished_at = EXCLUDED.finished_at, orphaned = false
        WHERE {ids}.orphaned AND NOT EXCLUDED.orphaned
    RETURNING tenant, request_id
), dropped AS (
    DELETE FROM {records} r USING replaced o
    WHERE r.tenant = o.tenant AND r.request_id = o.request_id
      AND r.finished_at = o.finished_at AND r.status = 'orphaned'
      AND (o.tenant, o.request_id) IN (SELECT tenant, request_id FROM claimed)
)
INSERT INTO {records}
SELECT b.* FROM batch b JOIN claimed c USING (tenant, request_id)
"""


def month_start(unix_s: float) -> dt.datetime:
    when = dt.datetime.fromtimestamp(unix_s, dt.UTC)
    return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start: dt.datetime) -> dt.datetime:
    days = calendar.monthrange(start.year, start.month)[1]
    return start + dt.timedelta(days=days)


def partition_name(start: dt.datetime) -> str:
    return f"usage_ledger_{start.year}{start.month:02d}"


def partition_bounds(start: dt.datetime) -> tuple[float, float]:
    """[from, to) in unix seconds of the month starting at ``start``."""
    return start.timestamp(), next_month(start).timestamp()


def months_around(unix_s: float, ahead: int) -> list[dt.datetime]:
    """The month of ``unix_s`` and the ``ahead`` months after it (partitions made ahead)."""
    months = [month_start(unix_s)]
    for _ in range(ahead):
        months.append(next_month(months[-1]))
    return months


def partition_end(name: str) -> float | None:
    """The end (unix seconds) of the month a partition's name says; None: not ours."""
    match = PARTITION.match(name)
    if match is None:
        return None
    start = dt.datetime(int(match[1]), int(match[2]), 1, tzinfo=dt.UTC)
    return next_month(start).timestamp()
