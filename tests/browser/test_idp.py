"""The test OpenID provider itself, and the way into the console through it: discovery, keys,
PKCE, the login form in Chromium (a wrong password refused, a right one signs in)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleStack
from tests.browser.idp import API_AUDIENCE
from tests.browser.pages import screenshot

pytestmark = pytest.mark.engine  # the stack's gateway is in front of the real engine


def _claims(jwt: str) -> dict[str, object]:
    payload = jwt.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return decoded


def test_discovery_names_the_issuer_exactly_and_requires_pkce(stack: ConsoleStack) -> None:
    idp = stack.idp
    discovery = httpx.get(idp.issuer + "/.well-known/openid-configuration", timeout=10).json()
    assert discovery["issuer"] == idp.issuer
    assert not idp.issuer.endswith("/")
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert "client_credentials" in discovery["grant_types_supported"]
    keys = httpx.get(discovery["jwks_uri"], timeout=10).json()["keys"]
    assert keys
    assert {k["alg"] for k in keys} == {"RS256"}
    assert all("d" not in k for k in keys)  # public halves only


def test_a_code_request_without_pkce_is_refused(stack: ConsoleStack) -> None:
    callback = stack.base_url + "/console/auth/callback"
    params = {"client_id": "sovereign-console", "response_type": "code", "scope": "openid",
              "redirect_uri": callback, "state": "s", "nonce": "n"}  # fmt: skip
    answer = httpx.get(stack.idp.issuer + "/auth", params=params, timeout=10)
    assert answer.status_code in (302, 303)
    assert answer.headers["location"].startswith(callback + "?error=invalid_request")
    assert "PKCE" in httpx.URL(answer.headers["location"]).params["error_description"]


def test_machine_tokens_are_jwts_for_the_gateway(stack: ConsoleStack) -> None:
    claims = _claims(stack.idp.machine_token())
    assert claims["iss"] == stack.idp.issuer
    assert claims["aud"] == API_AUDIENCE
    assert claims["sg_tenant"] == stack.tenant
    assert claims["sub"] == "acme-machine"


def test_a_wrong_password_is_refused_at_the_idp(stack: ConsoleStack, page: Page) -> None:
    page.goto(stack.base_url + "/console")
    expect(page.get_by_test_id("idp-username")).to_be_visible()
    assert page.url.startswith(stack.idp.issuer + "/interaction/")
    screenshot(page, "idp-01-signin")
    page.get_by_test_id("idp-username").fill("alice")
    page.get_by_test_id("idp-password").fill("not-her-password")
    page.get_by_test_id("idp-submit").click()
    expect(page.get_by_test_id("idp-login-error")).to_be_visible()
    screenshot(page, "idp-02-wrong-password")
    assert page.url.startswith(stack.idp.issuer)  # still at the IdP: no code was issued
