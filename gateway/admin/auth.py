"""The admin API's own credentials: token hashes in the settings, separate from every key.

``admin.token_hash`` is the platform admin's token (``ADMIN_TOKEN``, for automation that may
do everything); ``admin.tokens`` are named automation tokens, each with its roles (and a
tenant, for a tenant admin): an auditor's nightly export, a tenant's own key rotation. A
token is compared with every configured hash in the scheme the hash was made with
(``sha256:`` or ``hmac-sha256:`` with the key pepper), in constant time. A tenant's API key is
just a wrong token here: it is checked against the admin hashes only, never against the
key directory. People sign in with a bearer JWT instead (``gateway.admin.access``).
"""

from __future__ import annotations

import hashlib
import hmac

from gateway.identity.roles import ADMIN_TOKEN, Actor
from gateway.settings import AdminToken, Settings


def token_matches(token: str, token_hash: str, pepper: bytes | None) -> bool:
    scheme, _, hex_digest = token_hash.partition(":")
    if scheme == "hmac-sha256":
        if not pepper:  # an HMAC hash without its pepper can match nothing
            return False
        digest = hmac.new(pepper, token.encode(), hashlib.sha256).hexdigest()
    else:
        digest = hashlib.sha256(token.encode()).hexdigest()
    return hmac.compare_digest(digest.encode(), hex_digest.encode())


def token_actor(settings: Settings, token: str) -> Actor | None:
    """The actor whose admin token this is, or None. Every hash is tried (no early exit),
    so the time taken does not say which one matched."""
    secret = settings.security.key_pepper
    pepper = secret.get_secret_value().encode() if secret else None
    admin = settings.admin
    found: Actor | None = None
    if admin.token_hash is not None and token_matches(token, admin.token_hash, pepper):
        found = ADMIN_TOKEN
    for named in admin.tokens:
        if token_matches(token, named.hash, pepper):
            found = named_actor(named)
    return found


def named_actor(token: AdminToken) -> Actor:
    return Actor(f"token:{token.id}", token.id, frozenset(token.roles), token.tenant)


def admin_enabled(settings: Settings) -> bool:
    """Someone could act in a role: an admin token is configured, or an identity issuer maps
    some IdP group to a role (people sign in with a JWT). Otherwise the admin API is off."""
    admin = settings.admin
    tokens = admin.token_hash is not None or bool(admin.tokens)
    return tokens or any(issuer.role_map for issuer in settings.identity.issuers)
