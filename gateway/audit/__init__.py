"""The tamper-evident audit trail: one record per request and per admin action, hash-chained
(optionally HMAC-signed), in PostgreSQL (a chain per replica, tied together by a periodic
anchor chain) or a JSON Lines file (one chain), with retention and GDPR Art. 17 erasure that
keep every chain verifiable.

::

    records.py          RequestAudit, AdminAudit: the fixed part and the erasable part
    chain.py            sealing and verifying one chain (pure)
    anchor.py           anchors: a Merkle root over every chain's head, in a chain (pure)
    trail_check.py      verifying a whole store: the anchor chain, then every chain
    browse.py           reading entries back for people: newest first, filtered, paged
    service.py          AuditTrail (record, verify, anchor, purge, erase), AuditStore
    postgres.py         PostgresAuditStore: one chain per writer, each under its own head row
    postgres_anchor.py  the anchor chain's tables: appended once per interval, by one replica
    file.py             FileAuditStore: the embedded default, with a signed head file beside it
"""

from __future__ import annotations

from gateway.audit.chain import ChainEntry, ChainHead, VerifyReport, verify
from gateway.audit.records import AdminAudit, AuditRecord, AuditUnavailable, RequestAudit
from gateway.audit.service import AuditStore, AuditTrail, ErasureReceipt

__all__ = [
    "AdminAudit",
    "AuditRecord",
    "AuditStore",
    "AuditTrail",
    "AuditUnavailable",
    "ChainEntry",
    "ChainHead",
    "ErasureReceipt",
    "RequestAudit",
    "VerifyReport",
    "verify",
]
