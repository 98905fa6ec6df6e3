"""The durable usage ledger: every metered request's record, exactly once by request id, in
PostgreSQL (``metering.ledger_dsn``), and the way there from Redis.

::

    schema.py    the tables, the monthly partitions and their names: pure
    postgres.py  PostgresLedger: idempotent batch insert, usage, erasure, retention
    shipper.py   Shipper: each tenant's hand-off stream -> PostgreSQL (consumer group)
    durable.py   DurableLedger: what metering, the admin API and erasure use; the loops

How a record travels (a shared store; the embedded default keeps its ledger in memory)::

    meter.lua  --XADD-->  sg:{T}:handoff  --XREADGROUP-->  INSERT ... ON CONFLICT, COMMIT
                          (bounded: cap)                    then XACK + XDEL

Exactly once, by (tenant, request id):

- While its Redis marker lives (``store.marker_ttl_minutes``), ``meter.lua`` takes an id
  once: a retry, another replica or a spool replay settles nothing twice.
- The ``ledger_ids`` table is the authority beyond that: a record lands only if its id is new
  (or replaces an ``orphaned`` settlement of the same id: a replica thought dead, whose real
  record arrives later). A crash between COMMIT and XACK re-delivers the batch (XAUTOCLAIM
  after ``metering.ship_claim_after``), and the insert is a no-op for it.
- A spool replay first asks the ledger which of its ids it already holds and skips them.
- A full stream (the database down for a while) refuses the record without settling it; the
  replica spools it, as when Redis is down, and replays it later.

Residual edge cases (said, not hidden):

- A record both in the spool and still in a stream whose marker expired (a meter call whose
  reply was lost, then the database down for longer than the marker TTL) is settled twice in
  Redis's counters (token bucket, month counter); the ledger still holds it once.
- An orphan settlement superseded after its marker expired leaves the tokens-per-minute
  bucket short of the estimate it refunded; again the ledger is right.
- Usage reads see a record once it is shipped (ship_interval, ~0.25 s), not at once.
- Erasure (``DurableLedger.erase_subject``) counts the subject's records in PostgreSQL and in
  the streams; records that land later are stripped on insert (a tombstone per erasure, kept
  ``TOMBSTONE_DAYS``); a record spooled on a replica whose spool the erasure cannot reach
  (another host) and replayed after that is stripped too but not counted.

Uniqueness across partitions: PostgreSQL unique indexes on a partitioned table must include
the partition key (the end time), so the id's uniqueness lives in a separate, unpartitioned
``ledger_ids`` table (primary key (tenant, request_id)), written in the same transaction.
Retention: each tenant's retention (its ``retention_days``, else ``telemetry.retention_days``)
strips the personal field (``subject_ref``); whole records are kept for
``metering.billing_retention_days`` and then dropped a month partition at a time.
"""
