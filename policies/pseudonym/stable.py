"""Stable keyed pseudonyms: one per tenant and value, for requests whose answers are vectors.

An embeddings request has no answer text to restore placeholders in, and what its client
needs is that distinct values stay distinct and equal values equal, across requests (a RAG
index is built from many). ``stable_pseudonym`` is an HMAC-SHA-256 of the tenant, the
entity type and the value's identity (``placeholders.identity_key``: "DE89 3704..." and
"de893704..." are one IBAN) under the gateway's pseudonym key, shown as 12 decimal digits in
the placeholder shape (``<IBAN_CODE_402917385160>``). Nothing is stored: the same key gives
the same pseudonym on every replica and after restarts; another tenant gets another one.

Collisions: two distinct values of one type and tenant share a pseudonym with probability
about n² / 2·10¹² for n values (one in 200 for 100,000 distinct names). Whoever holds the key
can test a guessed value against a pseudonym, as with the vault's own key: it never leaves
the gateway's configuration.
"""

from __future__ import annotations

import hashlib
import hmac

from policies.pseudonym.placeholders import identity_key

DIGITS = 12


def stable_pseudonym(key: bytes, tenant: str, entity: str, value: str) -> str:
    message = "\0".join(("embeddings", tenant, entity, identity_key(entity, value))).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big") % 10**DIGITS
    return f"<{entity}_{number:0{DIGITS}d}>"
