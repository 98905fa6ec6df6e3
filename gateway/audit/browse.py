"""Reading the audit trail back for people: the newest entries first, filtered, a page at a time.

Verification reads every chain in seq order; an auditor wants the opposite: the latest
entries of a tenant (or of everything), newest first, across every chain. Entries are ordered
by ``(at, chain, seq)`` descending, which is total, so a page ends at a ``Cursor`` and the next
one starts strictly below it: nothing is skipped or repeated when entries share a timestamp.

Pruned entries (their body gone with their tenant's retention) are not listed: only their
header is left. The stores answer ``newest`` (PostgreSQL with one indexed query, the file by
a scan); ``matches`` and ``keep_newest`` are the file store's filter, pure.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from gateway.audit.chain import ChainEntry
from gateway.errors import InvalidRequest

MAX_PAGE = 500


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """Where a page ended: its last entry's position in ``(at, chain, seq)`` order."""

    at: float
    chain: str
    seq: int

    def text(self) -> str:
        return f"{self.at!r}|{self.seq}|{self.chain}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        at, _, rest = text.partition("|")
        seq, _, chain = rest.partition("|")
        try:
            return cls(float(at), chain, int(seq))
        except ValueError:
            raise InvalidRequest(
                f"Invalid value for 'before': {text!r} is not a cursor this API returned.",
                param="before",
                code="invalid_value",
            ) from None


@dataclass(frozen=True, slots=True)
class RecordQuery:
    """Which entries: of these tenants (None: every entry, gateway-wide ones included), of
    one kind ("request", "admin"), one admin action, made at or after ``since``, strictly
    before ``before``; at most ``limit``."""

    tenants: frozenset[str] | None = None
    kind: str | None = None
    action: str | None = None
    since: float | None = None
    before: Cursor | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise InvalidRequest(
                f"'limit' must lie between 1 and {MAX_PAGE}.", param="limit", code="invalid_value"
            )


@dataclass(frozen=True, slots=True)
class Found:
    """An entry and the chain it is in."""

    chain: str
    entry: ChainEntry

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.entry.at, self.chain, self.entry.seq)


def matches(query: RecordQuery, chain: str, entry: ChainEntry) -> bool:
    if entry.body is None:
        return False
    if query.tenants is not None and entry.tenant not in query.tenants:
        return False
    if query.kind is not None and entry.kind != query.kind:
        return False
    if query.action is not None and entry.body.get("action") != query.action:
        return False
    if query.since is not None and entry.at < query.since:
        return False
    return query.before is None or Cursor(entry.at, chain, entry.seq) < query.before


def keep_newest(query: RecordQuery, chain: str, entries: Iterable[ChainEntry]) -> list[Found]:
    """The matching entries, newest first, at most ``query.limit`` (a bounded heap)."""
    kept: list[tuple[Cursor, int, Found]] = []
    for n, entry in enumerate(entries):
        if not matches(query, chain, entry):
            continue
        found = Found(chain, entry)
        item = (found.cursor, n, found)
        if len(kept) < query.limit:
            heapq.heappush(kept, item)
        elif item[0] > kept[0][0]:
            heapq.heapreplace(kept, item)
    return [found for _, _, found in sorted(kept, reverse=True)]


def newest_query(
    table: sql.Identifier, columns: str, query: RecordQuery
) -> tuple[sql.Composed, dict[str, Any]]:
    """PostgreSQL's statement: ``chain`` then ``columns`` of the matching rows, newest first
    (the ``at`` and ``(tenant, at)`` indexes of unpruned rows serve it)."""
    where = [sql.SQL("body IS NOT NULL")]
    params: dict[str, Any] = {"limit": query.limit}
    if query.tenants is not None:
        where.append(sql.SQL("tenant = ANY(%(tenants)s)"))
        params["tenants"] = sorted(query.tenants)
    if query.kind is not None:
        where.append(sql.SQL("kind = %(kind)s"))
        params["kind"] = query.kind
    if query.action is not None:
        where.append(sql.SQL("body->>'action' = %(action)s"))
        params["action"] = query.action
    if query.since is not None:
        where.append(sql.SQL("at >= %(since)s"))
        params["since"] = query.since
    if query.before is not None:
        where.append(sql.SQL("(at, chain, seq) < (%(at)s, %(chain)s, %(seq)s)"))
        params.update(at=query.before.at, chain=query.before.chain, seq=query.before.seq)
    statement = sql.SQL(
        "SELECT chain, {columns} FROM {table} WHERE {where} "
        "ORDER BY at DESC, chain DESC, seq DESC LIMIT %(limit)s"
    ).format(columns=sql.SQL(columns), table=table, where=sql.SQL(" AND ").join(where))
    return statement, params
