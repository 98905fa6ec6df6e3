"""The deployment's signing keys: the one that signs, every public key published (JWKS).

Ed25519 (JWS ``EdDSA``) or P-256 (``ES256``), read from PEM; an ephemeral Ed25519 key when
none is configured. The JWKS is what ``/.well-known/sovereign-provenance/jwks.json`` serves
and what the offline CLI reads from a file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from gateway.provenance.settings import ProvenanceKey

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
ALGORITHMS = ("EdDSA", "ES256")


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    key: PrivateKey

    @property
    def algorithm(self) -> str:
        return "EdDSA" if isinstance(self.key, ed25519.Ed25519PrivateKey) else "ES256"

    @property
    def public(self) -> PublicKey:
        return self.key.public_key()


MAX_PEM_BYTES = 64 * 1024  # a PEM private key is a few hundred bytes


def load_key(spec: ProvenanceKey) -> SigningKey:
    pem = _pem_of(spec)
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise ValueError(f"provenance key {spec.kid!r}: not a PEM private key") from exc
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return SigningKey(spec.kid, key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return SigningKey(spec.kid, key)
    raise ValueError(f"provenance key {spec.kid!r}: must be Ed25519 or EC P-256")


def _pem_of(spec: ProvenanceKey) -> bytes:
    if spec.private_key is not None:
        return spec.private_key.get_secret_value().encode()
    assert spec.private_key_file is not None  # the settings require one of the two
    try:
        with open(spec.private_key_file, "rb") as file:
            pem = file.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise ValueError(
            f"provenance key {spec.kid!r}: cannot read {spec.private_key_file!r} ({exc.strerror})"
        ) from exc
    if len(pem) > MAX_PEM_BYTES:
        raise ValueError(f"provenance key {spec.kid!r}: {spec.private_key_file!r} is too large")
    return pem


def ephemeral_key() -> SigningKey:
    """A fresh Ed25519 key, named by its public key's thumbprint (its first 16 hex digits)."""
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SigningKey("ephemeral-" + hashlib.sha256(raw).hexdigest()[:16], key)


def private_pem(key: SigningKey) -> str:
    """PKCS#8 PEM of ``key`` (quick mode passes an ephemeral key to its workers this way)."""
    return key.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def jwk(kid: str, public: PublicKey) -> dict[str, Any]:
    """The public key as a JWK (RFC 7517; OKP per RFC 8037), with its kid, use and alg."""
    if isinstance(public, ed25519.Ed25519PublicKey):
        data: dict[str, Any] = OKPAlgorithm.to_jwk(public, as_dict=True)
        alg = "EdDSA"
    else:
        data = ECAlgorithm.to_jwk(public, as_dict=True)
        alg = "ES256"
    return {**data, "kid": kid, "use": "sig", "alg": alg}


class KeyRing:
    """The signing key (the first) and every key published for verification."""

    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self.signing = keys[0]
        self._jwks = {"keys": [jwk(k.kid, k.public) for k in keys]}

    def jwks(self) -> dict[str, Any]:
        return self._jwks
