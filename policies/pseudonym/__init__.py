"""Reversible pseudonymisation: the model sees ``<PERSON_1>``, the user sees the name again.

    placeholders.py  placeholder names; when two surface forms are the same value
    vault.py         the PseudonymVault protocol, VaultUnavailable, the in-memory vault
    redis_vault.py   the vault shared by all replicas: one Lua call per request, AES-GCM at rest
    assign.lua       atomic allocation of one request's placeholders
    restore.py       restore_text, StreamRestorer (holds back only a placeholder's prefix)
    chunks.py        restoration of OpenAI response bodies and streamed chunks
    stable.py        keyed pseudonyms stable per tenant and value, for embeddings (not restored)
    surrogate.py     keyed surrogates shaped like their values (names, IBANs), for embeddings
    surrogate_names.py  the given names and surnames surrogates are made of

The map is per tenant and conversation and stable across turns: numbering per message would
let two people both become ``<PERSON_1>``.
"""

from __future__ import annotations

from policies.pseudonym.chunks import ChunkRestorer, restore_body
from policies.pseudonym.restore import RestoreTable, StreamRestorer, restore_text
from policies.pseudonym.vault import MemoryPseudonymVault, PseudonymVault, VaultUnavailable

__all__ = [
    "ChunkRestorer",
    "MemoryPseudonymVault",
    "PseudonymVault",
    "RestoreTable",
    "StreamRestorer",
    "VaultUnavailable",
    "restore_body",
    "restore_text",
]
