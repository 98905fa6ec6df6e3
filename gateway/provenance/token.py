"""The provenance token: a compact JWS (RFC 7515) over what the client received, and its check.

Pure: no clock but the one passed in, no I/O. Its header names the key (``kid``) and the type
(``typ: sovereign-provenance+jwt``); its claims::

    iss           the deployer (provenance.deployer)
    iat           when it was signed (unix seconds)
    rid           the request id (the ``x-request-id`` the client got; the audit record's)
    gw            the gateway replica that signed it
    model, pool, jurisdiction, site   who generated the answer, and where
    ai_generated  true: the statement the EU AI Act Art. 50 asks to be machine-readable
    watermark     whether the engine that generated the answer was told to mark it with the
                  text watermark (its pool's ``watermark``, the tenant's, the request's own
                  switch: ``gateway/upstream/watermark.py``); a statement, not a detection
    text_sha256   hex SHA-256 of the answer's text as the client received it (UTF-8):
                  ``answer_text.py`` says what the text of an answer is

A token is valid for a text only if a published key's signature holds AND the text's digest
equals ``text_sha256`` exactly: one character changed and it is not.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import jwt

from gateway.provenance.keys import ALGORITHMS, SigningKey

PROVENANCE_TYP = "sovereign-provenance+jwt"


@dataclass(frozen=True, slots=True)
class Facts:
    """What a token states about one answer, besides its text."""

    request_id: str
    model: str
    pool: str
    jurisdiction: str
    site: str
    gateway: str
    deployer: str
    watermark: bool  # the engine was asked to mark the text (gateway/upstream/watermark.py)


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def claims_of(facts: Facts, text: str, now: float) -> dict[str, Any]:
    return {
        "iss": facts.deployer,
        "iat": int(now),
        "rid": facts.request_id,
        "gw": facts.gateway,
        "model": facts.model,
        "pool": facts.pool,
        "jurisdiction": facts.jurisdiction,
        "site": facts.site,
        "ai_generated": True,
        "watermark": facts.watermark,
        "text_sha256": text_digest(text),
    }


def sign(key: SigningKey, claims: dict[str, Any]) -> str:
    headers = {"kid": key.kid, "typ": PROVENANCE_TYP}
    return jwt.encode(claims, key.key, algorithm=key.algorithm, headers=headers)


@dataclass(frozen=True, slots=True)
class Verdict:
    valid: bool
    reason: str | None = None  # why not, in a few words
    claims: dict[str, Any] | None = None  # the signed claims, once the signature held

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"valid": self.valid}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.claims is not None:
            out["claims"] = self.claims
        return out


def verify(token: str, text: str, jwks: dict[str, Any]) -> Verdict:
    """Whether ``token`` was signed by a key of ``jwks`` for exactly ``text``."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return Verdict(False, "not a compact JWS")
    if header.get("typ") != PROVENANCE_TYP:
        return Verdict(False, f"not a provenance token (typ must be {PROVENANCE_TYP})")
    kid = header.get("kid")
    found = [k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kid") == kid]
    if not found:
        return Verdict(False, f"unknown key id {kid!r}")
    try:
        key = jwt.PyJWK(found[0])
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[a for a in ALGORITHMS if a == found[0].get("alg", a)],
            options={"require": ["iat"], "verify_iat": False},
        )
    except jwt.PyJWTError as exc:  # a bad signature, algorithm or key
        return Verdict(False, f"signature does not verify ({type(exc).__name__})")
    if claims.get("text_sha256") != text_digest(text):
        return Verdict(False, "the text is not the one signed (its SHA-256 differs)", claims)
    return Verdict(True, None, claims)
