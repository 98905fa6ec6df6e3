"""Every page, in both languages, within the signed-in identity's permissions."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from tests.console.conftest import ALICE, AUDREY, DORA, ORIGIN, TOM, csrf_of, sign_in
from tests.console.fake_idp import FakeIdP
from tests.unit.conftest import FakeEngines, make_settings

PAGES = (
    "/console",
    "/console/tenants",
    "/console/tenants/acme-de",
    "/console/usage",
    "/console/engines",
    "/console/policies",
    "/console/audit",
)


@pytest.mark.parametrize("language", ["de", "en"])
def test_every_page_renders_in_both_languages(
    client: TestClient, idp: FakeIdP, language: str
) -> None:
    sign_in(client, idp, ALICE)
    client.headers["accept-language"] = f"{language};q=0.9, fr;q=1"
    marker = {"de": "Übersicht", "en": "Overview"}[language]
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert f'<html lang="{language}">' in page.text
        assert marker in page.text  # the navigation, translated
        assert 'data-testid="page-title"' in page.text
        assert 'data-testid="sign-out"' in page.text
        assert not re.search(r"\{[a-z_]+\}", page.text), path  # no placeholder left unfilled


def test_security_headers_on_every_answer(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, ALICE)
    for path in (*PAGES, "/console/static/console.css", "/console/nowhere"):
        answer = client.get(path)
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert "script-src 'self';" in csp
        assert "unsafe-inline" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
    assert client.get("/console").headers["cache-control"] == "no-store"
    assert (
        client.get("/console/static/console.js")
        .headers["content-type"]
        .startswith("text/javascript")
    )


def test_no_inline_script_or_style_in_any_page(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, ALICE)
    for path in PAGES:
        html = client.get(path).text
        assert "<script>" not in html
        assert "<style" not in html
        assert " style=" not in html
        assert re.findall(r"<script[^>]*>", html) == [
            '<script src="/console/static/console.js" defer>'
        ]


def test_the_language_switcher_sets_a_cookie_and_returns(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, ALICE)
    token = csrf_of(client.get("/console/engines").text)
    switched = client.post(
        "/console/language",
        data={"lang": "de", "next": "/console/engines", "csrf_token": token},
        headers=ORIGIN,
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/console/engines"
    assert "sg_console_lang=de" in switched.headers["set-cookie"]
    client.headers["accept-language"] = "en"
    assert '<html lang="de">' in client.get("/console/engines").text  # the cookie wins


def test_signed_out_pages_have_the_switcher_too(client: TestClient) -> None:
    page = client.get("/console/signed-out", headers={"accept-language": "de-DE,de;q=0.9"})
    assert '<html lang="de">' in page.text
    assert 'data-testid="lang-en"' in page.text
    switched = client.post(
        "/console/language", data={"lang": "en", "next": "/console/signed-out"}, headers=ORIGIN
    )
    assert switched.status_code == 303
    assert '<html lang="en">' in client.get("/console/signed-out").text
    cross = client.post(
        "/console/language", data={"lang": "de"}, headers={"origin": "https://evil.example"}
    )
    assert cross.status_code == 403


def test_navigation_follows_the_roles(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, DORA)
    overview = client.get("/console").text
    assert 'data-testid="nav-audit"' in overview
    assert 'data-testid="nav-engines"' not in overview
    assert client.get("/console/engines").status_code == 403
    audit = client.get("/console/audit").text
    assert 'data-testid="erasure-form"' in audit
    assert 'data-testid="audit-verify-form"' in audit
    client.cookies.clear()
    sign_in(client, idp, AUDREY)
    audit = client.get("/console/audit").text
    assert 'data-testid="erasure-form"' not in audit
    assert 'data-testid="receipts-table"' in audit


def test_a_tenant_admin_sees_only_its_own_tenant(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, TOM)
    tenants = client.get("/console/tenants").text
    assert 'data-testid="tenant-row-acme-de"' in tenants
    assert "tenant-row-limited" not in tenants
    assert "tenant-create-form" not in tenants
    assert client.get("/console/tenants/limited").status_code == 404  # existence not revealed
    assert client.get("/console/usage?tenant=limited").status_code == 404
    usage = client.get("/console/usage").text
    assert '<option value="acme-de" selected>' in usage
    assert 'value="limited"' not in usage
    policies = client.get("/console/policies").text
    assert "policy-row-acme-de" in policies
    assert "policy-row-limited" not in policies
    assert client.get("/console/usage.csv?tenant=limited").status_code == 404
    assert client.get("/console/engines").status_code == 403


def test_every_role_gets_a_page_or_a_refusal_never_an_error(
    client: TestClient, idp: FakeIdP
) -> None:
    for user in (ALICE, TOM, DORA, AUDREY):
        client.cookies.clear()
        sign_in(client, idp, user)
        nav = client.get("/console").text
        for path in PAGES:
            status = client.get(path).status_code
            section = path.split("/")[2] if path.count("/") > 1 else "overview"
            assert status in (200, 403, 404), (user["sub"], path, status)
            if f'data-testid="nav-{section}"' in nav and path.count("/") < 3:
                assert status == 200, (user["sub"], path)  # offered in the nav: it works


def test_sign_ins_are_in_the_audit_trail(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, ALICE)
    records = client.get("/console/audit?kind=admin").text
    assert "console.sign_in" in records
    assert "<code>oidc:corp:alice</code>" in records


def test_the_console_is_off_unless_enabled() -> None:
    app = create_app(make_settings(), upstream_transport=httpx.MockTransport(FakeEngines()))
    with TestClient(app, follow_redirects=False) as off:
        for path in ("/console", "/console/auth/login", "/console/static/console.css"):
            answer = off.get(path)
            assert answer.status_code == 404
            assert answer.json()["error"]["type"] == "not_found_error"  # the API's answer
        assert off.post("/console/language", data={"lang": "de"}).status_code == 404
