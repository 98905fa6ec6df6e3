"""Identities: OpenID Connect issuers, bearer JWTs for the API, and roles for administration.

::

    settings.py   the ``identity`` section: issuers, claim names, role map, per-user limits
    roles.py      roles, permissions and the acting identity (``Actor``): pure
    jwks.py       one issuer's signing keys and discovery document: read async, cached,
                  single-flight refresh, stale within bounds, then fail closed
    tokens.py     ``TokenVerifier``: a bearer JWT verified (size, algorithm, issuer, key,
                  signature, claims) into a ``VerifiedToken``, or refused with a reason
    claims.py     a verified token as an ``Actor`` (admin, console) or a ``Principal`` (API:
                  tenant, subject, per-user limits): pure, and ``actor_from_bearer``
    bearer.py     ``Authenticator``: the one authentication of /v1, API keys and JWTs
"""
