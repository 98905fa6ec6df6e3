"""The durable usage ledger for tests: PostgreSQL at 127.0.0.1:5432 (trust, database
``test``), the schema of the gateways on the shared Redis (``RUN_SCHEMA``) or one per test
(``new_schema``), the metering section that points a gateway at it, and the records it
holds."""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
from psycopg import sql

from gateway.core.usage import UsageRecord

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
# The ledger of every test gateway on the shared Redis (127.0.0.1:6379/0). Gateways sharing a
# Redis must share one ledger: each replica's shipper takes any tenant's records off its
# stream, so two ledgers on one Redis would each get some of them. Test runs (and other
# sessions' runs at the same time) use that Redis, so they share this schema too; their
# tenants are their own (random ids), so each test reads only its own records. Tests with a
# Redis of their own (db 11, a private redis-server) use a schema of their own (new_schema).
RUN_SCHEMA = "sg_test_ledger"


def new_schema() -> str:
    return "sgl_" + uuid.uuid4().hex[:12]


def metering_section(schema: str = RUN_SCHEMA, **extra: Any) -> dict[str, Any]:
    """``metering:`` settings with the durable ledger (declared in DE, like every sink)."""
    return {
        "ledger_dsn": PG_DSN,
        "ledger_jurisdiction": "DE",
        "ledger_operator": "test",
        "ledger_schema": schema,
        **extra,
    }


def with_ledger(config: dict[str, Any], schema: str = RUN_SCHEMA) -> dict[str, Any]:
    """``config`` with the durable ledger added if it uses Redis and names no ledger."""
    store = config.get("store") or {}
    metering = dict(config.get("metering") or {})
    if store.get("redis_url") is None or "ledger_dsn" in metering:
        return config
    return {**config, "metering": {**metering_section(schema), **metering}}


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def ledger_records(
    tenant: str, schema: str = RUN_SCHEMA, *, at_least: int = 0, timeout: float = 15.0
) -> list[UsageRecord]:
    """The tenant's records in the durable ledger, oldest first; waits (up to ``timeout``)
    until there are ``at_least`` (records reach it within a ship interval)."""
    deadline = time.monotonic() + timeout
    while True:
        records = _read(tenant, schema)
        if len(records) >= at_least or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def _read(tenant: str, schema: str) -> list[UsageRecord]:
    query = sql.SQL(
        "SELECT record FROM {} WHERE tenant = %s ORDER BY finished_at, request_id"
    ).format(sql.Identifier(schema, "usage_ledger"))
    try:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            rows = conn.execute(query, (tenant,)).fetchall()
    except psycopg.errors.UndefinedTable:
        return []
    return [UsageRecord.model_validate(row[0]) for row in rows]
