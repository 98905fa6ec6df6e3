"""The console's pure parts: PKCE, URLs, return paths, origin checks, languages, periods."""

from __future__ import annotations

import base64
import datetime as dt
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.responses import Response

from gateway.console import oidc
from gateway.console.auth_routes import set_cookie
from gateway.console.guard import check_post, safe_next, same_origin
from gateway.console.i18n import from_accept_language, negotiate
from gateway.console.period import period_of
from gateway.errors import AuthenticationFailed, InvalidRequest, PermissionDenied

CLIENT = oidc.Client("corp", "console", None, ("openid", "profile"))


def test_pkce_challenge_is_rfc_7636_s256() -> None:
    # RFC 7636, Appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert oidc.pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    made, challenge = oidc.pkce_pair()
    assert 43 <= len(made) <= 128
    assert set(made) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    assert challenge == oidc.pkce_challenge(made)
    assert "=" not in challenge
    assert oidc.pkce_pair()[0] != made


def test_authorization_and_logout_urls() -> None:
    url = oidc.authorization_url("https://idp/auth?x=1", CLIENT, "https://gw/cb", "s", "n", "c")
    query = parse_qs(urlsplit(url).query)
    assert query == {
        "x": ["1"],
        "response_type": ["code"],
        "client_id": ["console"],
        "redirect_uri": ["https://gw/cb"],
        "scope": ["openid profile"],
        "state": ["s"],
        "nonce": ["n"],
        "code_challenge": ["c"],
        "code_challenge_method": ["S256"],
    }
    out = parse_qs(
        urlsplit(oidc.logout_url("https://idp/end", CLIENT, "a.b.c", "https://gw/so")).query
    )
    assert out == {
        "id_token_hint": ["a.b.c"],
        "client_id": ["console"],
        "post_logout_redirect_uri": ["https://gw/so"],
    }


async def test_code_exchange_as_a_confidential_client() -> None:
    seen: list[httpx.Request] = []

    def token(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id_token": "h.p.s", "access_token": "x"})

    confidential = oidc.Client("corp", "con sole", "s3cret:+/", ("openid",))
    async with httpx.AsyncClient(transport=httpx.MockTransport(token)) as http:
        assert (
            await oidc.exchange_code(
                http, "https://idp/token", confidential, "code1", "verif", "https://gw/cb"
            )
            == "h.p.s"
        )
    form = parse_qs(seen[0].content.decode())
    assert form == {
        "grant_type": ["authorization_code"],
        "code": ["code1"],
        "redirect_uri": ["https://gw/cb"],
        "code_verifier": ["verif"],
    }
    basic = seen[0].headers["authorization"].removeprefix("Basic ")
    assert base64.b64decode(basic).decode() == "con%20sole:s3cret%3A%2B%2F"  # RFC 6749 2.3.1


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(400, json={"error": "invalid_grant"}),
        httpx.Response(200, json={}),
        httpx.Response(200, text="<html>"),
    ],
)
async def test_a_failed_code_exchange_is_an_authentication_failure(answer: httpx.Response) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: answer)) as http:
        with pytest.raises(AuthenticationFailed):
            await oidc.exchange_code(http, "https://idp/token", CLIENT, "c", "v", "https://gw/cb")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/console", "/console"),
        ("/console/usage?tenant=a&from=2026-01-01", "/console/usage?tenant=a&from=2026-01-01"),
        ("/console/tenants/acme", "/console/tenants/acme"),
        (None, "/console"),
        ("", "/console"),
        ("https://evil.example/console", "/console"),
        ("//evil.example/console", "/console"),
        ("/\\evil.example", "/console"),
        ("/console\\..\\x", "/console"),
        ("/console/../admin", "/console"),
        ("/console/%2e%2e/admin", "/console"),
        ("/consolex", "/console"),
        ("/admin/v1/tenants", "/console"),
        ("javascript:alert(1)", "/console"),
        ("/console\r\nSet-Cookie: x=1", "/console"),
        ("http:/console", "/console"),
    ],
)
def test_safe_next(given: str | None, kept: str) -> None:
    assert safe_next(given) == kept


def test_origin_and_token_checks() -> None:
    own = "https://gw.example"
    assert same_origin({"origin": "https://gw.example"}, own)
    assert not same_origin({"origin": "https://evil.example"}, own)
    assert not same_origin({"origin": "null"}, own)
    assert same_origin({"sec-fetch-site": "same-origin"}, own)
    assert not same_origin({"sec-fetch-site": "same-site"}, own)
    check_post({"origin": own}, own, "token", "token")
    for headers, sent in (
        ({"origin": own}, None),
        ({"origin": own}, "other"),
        ({"origin": "https://evil.example"}, "token"),
    ):
        with pytest.raises(PermissionDenied):
            check_post(headers, own, sent, "token")


def test_language_negotiation() -> None:
    assert from_accept_language("fr-FR, en;q=0.8, de;q=0.9") == "de"
    assert from_accept_language("en-GB,en;q=0.9") == "en"
    assert from_accept_language("fr, it") is None
    assert from_accept_language("de;q=0, en;q=0.1") == "en"
    assert from_accept_language("de;q=x") is None
    assert negotiate("en", "de", "de") == "en"  # the switcher's cookie first
    assert negotiate("xx", "de-AT", "en") == "de"
    assert negotiate(None, None, "de") == "de"


def test_periods_are_whole_days_both_included() -> None:
    now = dt.datetime(2026, 12, 7, 8, 30, tzinfo=dt.UTC)
    default = period_of(None, None, now)
    assert default.since == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert default.until == dt.datetime(2026, 12, 8, tzinfo=dt.UTC)
    assert default.bucket == "day"
    one = period_of("2026-12-07", "2026-12-07", now)
    assert one.bucket == "hour"
    assert (one.until - one.since) == dt.timedelta(days=1)
    for start, end in (("2026-12-08", "2026-12-07"), ("2025-01-01", "2026-12-07"), ("x", None)):
        with pytest.raises(InvalidRequest):
            period_of(start, end, now)


def test_cookies_are_secure_unless_configured_otherwise() -> None:
    for secure in (True, False):
        response = Response()
        set_cookie(response, "sg_console", "id", 60, secure=secure)
        header = response.headers["set-cookie"].lower()
        assert ("; secure" in header) is secure
        assert "httponly" in header
        assert "samesite=lax" in header
        assert "path=/console" in header
