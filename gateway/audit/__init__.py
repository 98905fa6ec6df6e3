"""The tamper-evident audit trail: one record per request and per admin action, hash-chained
(optionally HMAC-signed), in PostgreSQL or a JSON Lines file, with retention and GDPR Art. 17
erasure that keep the chain verifiable.

::

    records.py   RequestAudit, AdminAudit: the fixed part and the erasable part of a record
    chain.py     sealing and verification (pure)
    service.py   AuditTrail (record, verify, purge, erase) and the AuditStore protocol
    postgres.py  PostgresAuditStore: one chain for all replicas, appended under a row lock
    file.py      FileAuditStore: the embedded default, with a signed head file beside it
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
