"""Which credential goes where: a JWT to the verifier, anything else to the key directory."""

from __future__ import annotations

import pytest

from gateway.identity.bearer import bearer_jwt


@pytest.mark.parametrize(
    ("authorization", "token"),
    [
        ("Bearer aGVhZA.Ym9keQ.c2ln", "aGVhZA.Ym9keQ.c2ln"),
        ("bearer  aGVhZA.Ym9keQ.c2ln ", "aGVhZA.Ym9keQ.c2ln"),
        ("Bearer aGVhZA.Ym9keQ.", "aGVhZA.Ym9keQ."),  # unsigned: refused as such, later
        ("Bearer sk-sov-abc_DEF-123", None),  # an API key
        ("Bearer a.b", None),
        ("Bearer a.b.c.d", None),  # JWE (five segments) and others: not ours
        ("Bearer a b.c.d", None),
        ("Bearer a.b+c.d", None),  # base64url only
        ("Basic a.b.c", None),
        ("", None),
        (None, None),
    ],
)
def test_a_jwt_is_three_base64url_segments_after_bearer(
    authorization: str | None, token: str | None
) -> None:
    assert bearer_jwt(authorization) == token
