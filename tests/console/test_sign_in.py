"""Sign-in with the authorization code flow + PKCE against a fake IdP: the happy path, and
every way it must fail (state, nonce, replay, open redirect, no role)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from gateway.console.oidc import pkce_challenge
from tests.console.conftest import ALICE, NOBODY, TOM, idp_redirect, sign_in
from tests.console.fake_idp import FakeIdP


def test_sign_in_lands_on_the_page_asked_for_with_a_fresh_session(
    client: TestClient, idp: FakeIdP
) -> None:
    unsigned = client.get("/console/usage?by=key")
    assert unsigned.status_code == 303
    assert unsigned.headers["location"] == "/console/auth/login?next=%2Fconsole%2Fusage%3Fby%3Dkey"
    client.cookies.set("sg_console", "planted", domain="testserver.local", path="/console")
    landed = sign_in(client, idp, ALICE, next="/console/usage?by=key")
    assert landed == "/console/usage?by=key"
    session_id = client.cookies.get("sg_console", path="/console")
    assert session_id
    assert session_id != "planted"
    page = client.get("/console")
    assert page.status_code == 200
    assert 'data-testid="actor-name">alice<' in page.text
    assert 'data-testid="role-platform_admin"' in page.text


def test_the_authorization_request_carries_pkce_state_and_nonce(
    client: TestClient, idp: FakeIdP
) -> None:
    sign_in(client, idp, ALICE)
    sent = idp.authorizations[-1]
    assert sent["response_type"] == "code"
    assert sent["code_challenge_method"] == "S256"
    assert sent["redirect_uri"] == "http://testserver/console/auth/callback"
    assert sent["client_id"] == "sovereign-console"
    assert len(sent["state"]) >= 43
    assert len(sent["nonce"]) >= 43
    form, authorization = idp.token_requests[-1]
    assert pkce_challenge(form["code_verifier"]) == sent["code_challenge"]
    assert form["client_id"] == "sovereign-console"
    assert authorization is None


def test_cookie_flags(client: TestClient, idp: FakeIdP) -> None:
    idp.next_user = ALICE
    started = client.get("/console/auth/login")
    login_cookie = started.headers["set-cookie"]
    assert "sg_console_login=" in login_cookie
    for flag in ("HttpOnly", "Path=/console", "SameSite=lax"):
        assert flag in login_cookie
    done = client.get(idp_redirect(started.headers["location"]))
    cookies = done.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("sg_console="))
    for flag in ("HttpOnly", "Path=/console", "SameSite=lax", "Max-Age=28800"):
        assert flag in session
    assert "Secure" not in session  # cookie_secure: false in these tests (plain http)
    assert any(c.startswith("sg_console_login=") and "Max-Age=0" in c for c in cookies)


def test_a_state_that_this_browser_did_not_begin_is_refused(
    client: TestClient, idp: FakeIdP
) -> None:
    idp.next_user = ALICE
    started = client.get("/console/auth/login")
    callback = idp_redirect(started.headers["location"])
    client.cookies.set(
        "sg_console_login", "another-state", domain="testserver.local", path="/console"
    )
    refused = client.get(callback)
    assert refused.status_code == 403
    assert 'data-testid="forbidden"' in refused.text
    assert not any(c.name == "sg_console" and c.value for c in client.cookies.jar)


def test_a_callback_with_a_forged_state_is_refused(client: TestClient, idp: FakeIdP) -> None:
    idp.next_user = ALICE
    started = client.get("/console/auth/login")
    callback = idp_redirect(started.headers["location"])
    query = parse_qs(urlsplit(callback).query)
    client.cookies.set("sg_console_login", "forged", domain="testserver.local", path="/console")
    forged = client.get(
        "/console/auth/callback", params={"code": query["code"][0], "state": "forged"}
    )
    assert forged.status_code == 403  # no such sign-in under way


def test_a_callback_is_good_once(client: TestClient, idp: FakeIdP) -> None:
    idp.next_user = ALICE
    started = client.get("/console/auth/login")
    state = client.cookies.get("sg_console_login", path="/console")
    assert state is not None
    callback = idp_redirect(started.headers["location"])
    assert client.get(callback).status_code == 303
    client.cookies.set("sg_console_login", state, domain="testserver.local", path="/console")
    assert client.get(callback).status_code == 403  # replayed


def test_a_wrong_nonce_is_refused(client: TestClient, idp: FakeIdP) -> None:
    idp.wrong_nonce = True
    try:
        idp.next_user = ALICE
        started = client.get("/console/auth/login")
        refused = client.get(idp_redirect(started.headers["location"]))
    finally:
        idp.wrong_nonce = False
    assert refused.status_code == 401
    assert 'data-testid="error"' in refused.text
    assert not any(c.name == "sg_console" and c.value for c in client.cookies.jar)


def test_the_return_path_is_always_local(client: TestClient, idp: FakeIdP) -> None:
    for hostile in (
        "https://evil.example/console",
        "//evil.example",
        "/\\evil.example",
        "/console/../admin/v1/tenants",
        "/consolex",
        "javascript:alert(1)",
    ):
        client.cookies.clear()
        assert sign_in(client, idp, ALICE, next=hostile) == "/console"


def test_an_account_without_a_role_gets_no_session(client: TestClient, idp: FakeIdP) -> None:
    idp.next_user = NOBODY
    started = client.get("/console/auth/login")
    refused = client.get(idp_redirect(started.headers["location"]))
    assert refused.status_code == 403
    assert not any(c.name == "sg_console" and c.value for c in client.cookies.jar)


def test_sign_out_ends_the_session_and_the_idp_session(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, TOM)
    page = client.get("/console")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    out = client.post(
        "/console/auth/logout", data={"csrf_token": token}, headers={"origin": "http://testserver"}
    )
    assert out.status_code == 303
    target = urlsplit(out.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == idp.issuer + "/logout"
    query = parse_qs(target.query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/console/signed-out"]
    assert query["id_token_hint"][0].count(".") == 2
    assert client.get("/console").status_code == 303  # the session is gone
    assert 'data-testid="signed-out"' in client.get("/console/signed-out").text
