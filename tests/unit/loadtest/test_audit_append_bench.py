"""The audit append benchmark's plumbing: writers append real records to their chains (or to
one shared chain) in the real PostgreSQL, the table is built from set figures, and a tiny
whole run spawns its writer processes and drops its schema. No timing is asserted."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from loadtest.audit_append import (
    DSN,
    MODES,
    SHARED_CHAIN,
    Job,
    Phase,
    Written,
    drop_schema,
    main,
    render,
    rows,
    verify_table,
    write,
)


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    name = f"audit_test_{uuid.uuid4().hex[:10]}"
    yield name
    await asyncio.to_thread(drop_schema, DSN, name)


def phase(mode: str, writers: int, round_: int, per_writer: float) -> Phase:
    results = [Written(f"w{n}", int(per_writer * 2), 2.0) for n in range(writers)]
    return Phase(mode, writers, round_, "t", results)


def test_the_table_gives_medians_per_writer_and_the_speedup() -> None:
    phases = [
        phase(MODES[0], 1, 0, 1000),
        phase(MODES[0], 1, 1, 1200),
        phase(MODES[0], 1, 2, 1100),
        phase(MODES[0], 2, 0, 1000),
        phase(MODES[1], 1, 0, 1000),
        phase(MODES[1], 2, 0, 500),
    ]
    table = rows(phases)
    assert [(r.mode, r.writers, r.total, r.per_writer, r.speedup) for r in table] == [
        (MODES[0], 1, 1100.0, 1100.0, 1.0),
        (MODES[0], 2, 2000.0, 1000.0, 1.82),
        (MODES[1], 1, 1000.0, 1000.0, 1.0),
        (MODES[1], 2, 1000.0, 500.0, 1.0),
    ]
    text = render(table)
    assert "| per-replica | 2 | 2,000 | 1,000 | 1.82x | 2,000 |" in text
    assert "| per-replica | 1 | 1,100 | 1,100 | 1.00x | 1,000, 1,200, 1,100 |" in text


@pytest.mark.parametrize(("shared", "presealed"), [(False, 0), (True, 0), (False, 5)])
async def test_writers_append_side_by_side_and_the_trail_verifies(
    schema: str, shared: bool, presealed: int
) -> None:
    barrier = threading.Barrier(2)
    chains = [SHARED_CHAIN] * 2 if shared else ["writer-0", "writer-1"]
    anchors = None if shared else 0.1
    jobs = [Job(DSN, schema, "bench", chain, 0.3, 16, anchors, presealed) for chain in chains]
    written = await asyncio.gather(*(write(job, barrier) for job in jobs))
    assert all(w.records > 0 for w in written)
    verdict = await verify_table(DSN, schema, "bench")
    assert verdict.startswith(f"intact: {1 if shared else 2} chain(s)"), verdict
    with psycopg.connect(DSN) as conn:
        query = f"SELECT chain, count(*) FROM {schema}.bench GROUP BY chain ORDER BY chain"  # noqa: S608
        counts: dict[str, int] = dict(conn.execute(query).fetchall())
    # Every record written (the warm-up and those after the window too), in its own chain.
    assert sorted(counts) == sorted(set(chains))
    assert sum(counts.values()) >= sum(w.records for w in written) + 2


def test_a_whole_run_spawns_writers_and_drops_its_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    table = main(["--seconds", "0.3", "--rounds", "1", "--writers", "1", "--verify"])
    out = capsys.readouterr().out
    assert [(r.mode, r.writers) for r in table] == [(MODES[0], 1), (MODES[1], 1)]
    assert all(r.total > 0 for r in table)
    assert out.count("; intact: 1 chain(s)") == 2
    schema = out.split("schema ", 1)[1].split()[0]
    assert schema.startswith("audit_bench_")
    with psycopg.connect(DSN) as conn:
        query = "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s"
        assert conn.execute(query, (schema,)).fetchone() == (0,)
