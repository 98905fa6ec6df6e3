"""Which stores a GDPR Art. 17 erasure reaches, besides the audit trail itself.

The audit trail runs the erasure (``AuditTrail.erase``) and issues the receipt; each store
named here is called with the subject's reference and reports how many items it cleared:

- ``ledger``: the subject's reference in usage records (the counts stay: billing records);
- ``pseudonym_vault``: the conversations filed under the subject (their placeholder maps);
- ``content_log``: registered by the telemetry hub, which owns that sink.

The gateway (lifespan) and ``sovereign-gateway audit erase`` register the same stores.
"""

from __future__ import annotations

from gateway.audit.service import AuditTrail
from gateway.metering.service import Metering
from policies.pseudonym.vault import PseudonymVault


def register_erasers(audit: AuditTrail, metering: Metering, vault: PseudonymVault) -> None:
    async def ledger(_raw: str, ref: str) -> int:
        return await metering.erase_subject(ref)

    async def conversations(_raw: str, ref: str) -> int:
        return await vault.erase_subject(ref)

    audit.add_eraser("ledger", ledger)
    audit.add_eraser("pseudonym_vault", conversations)
