"""The ID token at the console's callback: only the console's own issuer, for the console
(``aud``, and ``azp`` when it names other audiences too), whatever else the gateway trusts."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from tests.console.conftest import ALICE, BASE, console_settings, idp_redirect
from tests.console.fake_idp import FakeIdP, running_idp
from tests.unit.conftest import FakeEngines


@pytest.fixture(scope="module")
def partner() -> Iterator[FakeIdP]:
    """A second issuer the gateway trusts (for API tokens), with the same role names."""
    with running_idp() as provider:
        yield provider


@pytest.fixture(scope="module")
def two_issuers(idp: FakeIdP, partner: FakeIdP) -> Iterator[TestClient]:
    settings = console_settings(idp.issuer)
    corp = settings.identity.issuers[0]
    other = corp.model_copy(update={"name": "partner", "issuer": partner.issuer})
    identity = settings.identity.model_copy(update={"issuers": [corp, other]})
    app = create_app(
        settings.model_copy(update={"identity": identity}),
        upstream_transport=httpx.MockTransport(FakeEngines()),
    )
    with TestClient(app, base_url=BASE, follow_redirects=False) as client:
        yield client


def _sign_in(client: TestClient, idp: FakeIdP, user: dict[str, Any]) -> Any:  # the answer
    client.cookies.clear()
    idp.next_user = user
    started = client.get("/console/auth/login")
    assert started.status_code == 303
    return client.get(idp_redirect(started.headers["location"]))


def _signed_in(client: TestClient) -> bool:
    return any(c.name == "sg_console" and c.value for c in client.cookies.jar)


def test_an_id_token_of_another_trusted_issuer_is_refused(
    two_issuers: TestClient, idp: FakeIdP, partner: FakeIdP
) -> None:
    assert _sign_in(two_issuers, idp, ALICE).status_code == 303  # the console's own: fine
    idp.signer = partner  # valid signature, iss = the partner, aud = the console's client id
    try:
        refused = _sign_in(two_issuers, idp, ALICE)
    finally:
        idp.signer = None
    assert refused.status_code == 401
    assert 'data-testid="error"' in refused.text
    assert not _signed_in(two_issuers)


def test_an_iss_naming_the_other_issuer_does_not_borrow_its_keys(
    two_issuers: TestClient, idp: FakeIdP, partner: FakeIdP
) -> None:
    refused = _sign_in(two_issuers, idp, {**ALICE, "iss": partner.issuer})  # signed by corp
    assert refused.status_code == 401
    assert not _signed_in(two_issuers)
    slash = _sign_in(two_issuers, idp, {**ALICE, "iss": idp.issuer + "/"})  # not exactly ours
    assert slash.status_code == 401
    assert not _signed_in(two_issuers)


def test_several_audiences_need_the_console_as_authorized_party(
    two_issuers: TestClient, idp: FakeIdP
) -> None:
    ours = "sovereign-console"
    both = {**ALICE, "aud": [ours, "another-client"]}
    assert _sign_in(two_issuers, idp, both).status_code == 401  # no azp (OIDC Core 3.1.3.7)
    assert not _signed_in(two_issuers)
    other_party = {**both, "azp": "another-client"}
    assert _sign_in(two_issuers, idp, other_party).status_code == 401
    assert not _signed_in(two_issuers)
    assert _sign_in(two_issuers, idp, {**both, "azp": ours}).status_code == 303
    assert _signed_in(two_issuers)
    alone = {**ALICE, "aud": [ours], "azp": "another-client"}  # an azp must be ours
    assert _sign_in(two_issuers, idp, alone).status_code == 401
    assert _sign_in(two_issuers, idp, {**ALICE, "aud": [ours]}).status_code == 303


def test_a_name_claim_with_markup_is_shown_as_text(two_issuers: TestClient, idp: FakeIdP) -> None:
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    assert _sign_in(two_issuers, idp, {**ALICE, "preferred_username": hostile}).status_code == 303
    page = two_issuers.get("/console").text
    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_id_token_valid_for_years_still_gives_a_session_of_session_minutes(
    two_issuers: TestClient, idp: FakeIdP
) -> None:
    years = int(time.time()) + 10 * 365 * 24 * 3600
    done = _sign_in(two_issuers, idp, {**ALICE, "exp": years})
    assert done.status_code == 303
    session = next(c for c in done.headers.get_list("set-cookie") if c.startswith("sg_console="))
    assert "Max-Age=28800" in session  # console.session_minutes (480), not the token's exp
    until = two_issuers.get("/console").text.split('data-testid="session-until">')[1][:19]
    ends = dt.datetime.strptime(until, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    assert ends.timestamp() <= time.time() + 480 * 60 + 5


def test_the_console_client_cannot_be_the_api_audience(idp: FakeIdP) -> None:
    # Else every ID token the console receives would also be an API bearer token.
    with pytest.raises(ValueError, match="client_id"):
        console_settings(idp.issuer, client_id="sovereign-gateway")
