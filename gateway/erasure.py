"""Which stores a GDPR Art. 17 erasure reaches, besides the audit trail itself.

The audit trail runs the erasure (``AuditTrail.erase``) and issues the receipt; each store
named here is called with the subject's reference and reports how many items it cleared:

- ``ledger``: the subject's reference in usage records (the counts stay: billing records);
- ``pseudonym_vault``: the conversations filed under the subject (their placeholder maps);
- ``content_log``: registered by the telemetry hub, which owns that sink;
- ``batches``: files and batches about the subject (a line's ``user``, or the subject header
  of the upload or the batch's creation), deleted whole with their results
  (``gateway/batches/``; README, "Batches").

The gateway (lifespan) and ``sovereign-gateway audit erase`` register the same stores.
"""

from __future__ import annotations

from gateway.audit.service import AuditTrail
from gateway.batches.store import BatchStore
from gateway.metering.service import Metering
from policies.pseudonym.vault import PseudonymVault


def register_erasers(
    audit: AuditTrail,
    metering: Metering,
    vault: PseudonymVault,
    batches: BatchStore | None = None,
) -> None:
    async def ledger(_raw: str, ref: str) -> int:
        return await metering.erase_subject(ref)

    async def conversations(_raw: str, ref: str) -> int:
        return await vault.erase_subject(ref)

    audit.add_eraser("ledger", ledger)
    audit.add_eraser("pseudonym_vault", conversations)
    if batches is not None:
        store = batches

        async def files_and_batches(_raw: str, ref: str) -> int:
            return await store.erase_subject(ref)

        audit.add_eraser("batches", files_and_batches)
