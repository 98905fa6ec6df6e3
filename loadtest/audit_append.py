"""Audit append throughput with 1, 2 and 4 writer processes (issue 15, item 3), measured.

    python -m loadtest.audit_append [--seconds 10] [--rounds 3] [--writers 1,2,4]
                                    [--in-flight 256] [--presealed N] [--dsn ...] [--verify]

Each writer is a process of its own, as a gateway replica is: its own ``PostgresAuditStore``
(one connection) and ``AuditTrail`` (HMAC key, subject key, ``max_batch`` 500, as the gateway
builds it), appending realistic request records (``RequestAudit`` from a ``UsageRecord``,
one in four with a data subject and masked content). Each writer keeps ``--in-flight``
records queued (``queue_request``, a new one as soon as one is written), so the trail
batches the way it does under load: every write takes what queued while the last one ran.
Sealing a record (``seal_request``: the record, its digests, ~50 us of Python) happens in
the writer, as in the gateway's flush. ``--presealed N`` seals N records up front and
appends them over and over (each linked afresh: new seq, new hash), which leaves only the
append path (link, insert, commit, and the head row's lock) to measure: on a machine with
few cores the sealing CPU, the same in both modes, hides what the lock costs.

Two modes, side by side in each round (the order alternating between rounds):

- ``per-replica``: each writer appends to a chain of its own (today's design), with the
  anchor job running in every writer every ``--anchor-interval`` seconds, as in the gateway;
- ``one chain``: every writer appends to the same chain, ``shared``: the design before it,
  where every append of every replica waits for the one head row's lock.

Writers start together (a barrier, after their connection is open and one warm-up append is
done) and count the records written within ``--seconds``. Every (mode, writers, round) gets
a table of its own in a schema of its own (``audit_bench_<random>``), dropped at the end.
``--verify`` checks each table's trail afterwards (every chain, and the anchors).

Reported per mode and writer count: records/s in total and per writer (median of the
rounds, and every round), and the speed-up over one writer of the same mode.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from gateway.audit.chain import Draft
from gateway.audit.postgres import PostgresAuditStore
from gateway.audit.service import AuditTrail
from gateway.core.usage import UsageRecord

DSN = "postgresql://postgres@127.0.0.1:5432/test"
MODES = ("per-replica", "one chain")
SHARED_CHAIN = "shared"
HMAC_KEY = b"audit-bench-hmac-key-0123456789a"
SUBJECT_KEY = b"audit-bench-subject-key-01234567"
TENANTS = ("acme", "globex", "initech", "umbrella")


@dataclass(frozen=True, slots=True)
class Job:
    """One writer's part of a phase."""

    dsn: str
    schema: str
    table: str
    chain: str
    seconds: float
    in_flight: int
    anchor_interval: float | None  # None: no anchor job (the one-chain mode has none)
    presealed: int = 0  # > 0: append these many sealed records over and over


@dataclass(frozen=True, slots=True)
class Written:
    chain: str
    records: int  # written within the measured window
    seconds: float


@dataclass(frozen=True, slots=True)
class Phase:
    mode: str
    writers: int
    round: int
    table: str
    results: list[Written]

    @property
    def total(self) -> float:
        return sum(w.records / w.seconds for w in self.results)


def usage(n: int, chain: str) -> UsageRecord:
    """A plausible finished chat request."""
    return UsageRecord(
        request_id=f"{chain}-{n}-{uuid.uuid4().hex[:8]}",
        tenant=TENANTS[n % len(TENANTS)],
        key_id=f"k{n % 7}",
        endpoint="chat.completions",
        model="smollm2",
        pool="de-muc-b200",
        site="de-muc-1",
        jurisdiction="DE",
        engine="http://de-1.engine:8000",
        stream=n % 2 == 0,
        status="ok",
        http_status=200,
        prompt_tokens=120 + n % 50,
        completion_tokens=40 + n % 200,
        usage_source="engine",
        estimated_tokens=400,
        started_at=time.time(),
        ttft_ms=42.0,
        duration_ms=812.5,
        gateway=chain,
        policy="gdpr-default@3",
        policy_mode="enforce",
        pii="prompt:PERSON:pseudonymize=1,prompt:EMAIL_ADDRESS:mask=1" if n % 3 == 0 else None,
    )


def seal(trail: AuditTrail, n: int, chain: str) -> Draft:
    """One request's record, sealed; one in four names a data subject and logs content."""
    subject = f"user-{n % 997}@example.org" if n % 4 == 0 else None
    content = {"prompt": "Hallo <PERSON_1>, bitte ...", "answer": "Gern."} if subject else None
    return trail.seal_request(usage(n, chain), subject=subject, content=content)


def record(
    trail: AuditTrail, n: int, chain: str, sealed: Sequence[Draft] = ()
) -> asyncio.Future[Any]:
    """Queue one record: sealed now, or the next of ``sealed``."""
    item = sealed[n % len(sealed)] if sealed else seal(trail, n, chain)
    return trail.enqueue([item])


async def write(job: Job, barrier: Any) -> Written:
    store = await PostgresAuditStore.open(
        job.dsn, schema=job.schema, table=job.table, chain=job.chain
    )
    trail = AuditTrail(store, HMAC_KEY, SUBJECT_KEY)
    try:
        await record(trail, 0, job.chain)  # connection open, statements warm
        await asyncio.to_thread(barrier.wait)
        anchors = None
        if job.anchor_interval is not None:
            anchors = asyncio.create_task(trail.anchor_forever(job.anchor_interval))
        sealed = [seal(trail, n, job.chain) for n in range(job.presealed)]
        written, n = 0, 1
        start = time.perf_counter()
        end = start + job.seconds
        pending: set[asyncio.Future[Any]] = set()
        while True:
            while len(pending) < job.in_flight:
                pending.add(record(trail, n, job.chain, sealed))
                n += 1
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            now = time.perf_counter()
            if now >= end:
                break
            for future in done:
                future.result()  # a failed append fails the benchmark
            written += len(done)
        elapsed = now - start
        if anchors is not None:
            anchors.cancel()
            await asyncio.gather(anchors, return_exceptions=True)
        await trail.flush()
        return Written(job.chain, written, elapsed)
    finally:
        await trail.close()


def writer_process(job: Job, barrier: Any, results: Any) -> None:
    """A writer process's body (module level: spawned processes import it)."""
    results.put(asdict(asyncio.run(write(job, barrier))))


def run_phase(
    mode: str,
    writers: int,
    round_: int,
    *,
    dsn: str,
    schema: str,
    seconds: float,
    in_flight: int,
    anchor_interval: float,
    presealed: int = 0,
) -> Phase:
    """``writers`` processes side by side, each on a fresh table of this phase."""
    ctx = multiprocessing.get_context("spawn")
    table = f"{'chains' if mode == MODES[0] else 'one'}_w{writers}_r{round_}"
    barrier, results = ctx.Barrier(writers), ctx.Queue()
    processes = []
    for i in range(writers):
        chain = f"writer-{i}" if mode == MODES[0] else SHARED_CHAIN
        interval = anchor_interval if mode == MODES[0] else None
        job = Job(dsn, schema, table, chain, seconds, in_flight, interval, presealed)
        process = ctx.Process(target=writer_process, args=(job, barrier, results))
        process.start()
        processes.append(process)
    written = [Written(**results.get(timeout=seconds + 120)) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        if process.exitcode != 0:
            raise RuntimeError(f"a writer process ended with {process.exitcode}")
    return Phase(mode, writers, round_, table, sorted(written, key=lambda w: w.chain))


async def verify_table(dsn: str, schema: str, table: str) -> str:
    """The trail in one phase's table: every chain and the anchors (a one-line verdict)."""
    store = PostgresAuditStore(dsn, schema=schema, table=table, chain=SHARED_CHAIN)
    try:
        report = await AuditTrail(store, HMAC_KEY, None).verify()
    finally:
        await store.close()
    verdict = "intact" if report.ok else f"TAMPERED ({report.problem_count} problems)"
    anchors = report.anchors.entries if report.anchors else 0
    return f"{verdict}: {len(report.chains)} chain(s), {report.entries} entries, {anchors} anchors"


def drop_schema(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@dataclass(frozen=True, slots=True)
class Row:
    mode: str
    writers: int
    total: float  # records/s, median over the rounds
    per_writer: float
    rounds: list[float]
    speedup: float  # over one writer of the same mode


def rows(phases: Sequence[Phase]) -> list[Row]:
    table: list[Row] = []
    for mode in MODES:
        base: float | None = None
        counts = sorted({p.writers for p in phases if p.mode == mode})
        for writers in counts:
            totals = [p.total for p in phases if p.mode == mode and p.writers == writers]
            median = statistics.median(totals)
            base = median if base is None or writers == 1 else base
            speedup = median / base if base else 0.0
            table.append(Row(mode, writers, median, median / writers, totals, round(speedup, 2)))
    return table


def render(table: Sequence[Row]) -> str:
    head = "| mode | writers | records/s total | per writer | speed-up | rounds (total) |"
    lines = [head, "|---|---:|---:|---:|---:|---|"]
    for row in table:
        rounds = ", ".join(f"{t:,.0f}" for t in row.rounds)
        lines.append(
            f"| {row.mode} | {row.writers} | {row.total:,.0f} | {row.per_writer:,.0f} | "
            f"{row.speedup:.2f}x | {rounds} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase (default 10)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writers", default="1,2,4", help="writer process counts (1,2,4)")
    parser.add_argument("--in-flight", type=int, default=256, help="records queued per writer")
    parser.add_argument("--anchor-interval", type=float, default=5.0)
    parser.add_argument(
        "--presealed", type=int, default=0, help="seal N records up front (the append path only)"
    )
    parser.add_argument("--dsn", default=DSN)
    parser.add_argument("--verify", action="store_true", help="verify every phase's trail")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[Row]:
    args = parse_args(argv)
    counts = [int(n) for n in args.writers.split(",")]
    schema = f"audit_bench_{uuid.uuid4().hex[:10]}"
    print(
        f"# audit append: {platform.node()}, {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.2f}; {args.seconds:g} s a phase, {args.rounds} rounds, "
        f"{args.in_flight} in flight per writer"
        + (f", {args.presealed} presealed records" if args.presealed else ", sealed as written")
        + f"; schema {schema}",
        flush=True,
    )
    phases: list[Phase] = []
    try:
        for round_ in range(args.rounds):
            modes = MODES if round_ % 2 == 0 else MODES[::-1]
            for writers in counts:
                for mode in modes:
                    phase = run_phase(
                        mode,
                        writers,
                        round_,
                        dsn=args.dsn,
                        schema=schema,
                        seconds=args.seconds,
                        in_flight=args.in_flight,
                        anchor_interval=args.anchor_interval,
                        presealed=args.presealed,
                    )
                    phases.append(phase)
                    each = ", ".join(f"{w.records / w.seconds:,.0f}" for w in phase.results)
                    line = f"round {round_ + 1} {mode:11} x{writers}: {phase.total:,.0f}/s ({each})"
                    if args.verify:
                        line += "; " + asyncio.run(verify_table(args.dsn, schema, phase.table))
                    print(line, flush=True)
    finally:
        drop_schema(args.dsn, schema)
    table = rows(phases)
    print(render(table))
    if args.json:
        print(json.dumps([asdict(row) for row in table]))
    return table


if __name__ == "__main__":
    main()
