"""Error pages speak the page's language: a translated message for each common case, the
backend's (English) message only folded away as a technical detail."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from gateway.console.error_pages import REASONS, error_view
from gateway.console.i18n import catalogue
from gateway.errors import (
    AuthenticationFailed,
    Conflict,
    GatewayError,
    InvalidRequest,
    LedgerUnavailable,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
)
from tests.console.conftest import ALICE, ORIGIN, TOM, csrf_of, sign_in
from tests.console.fake_idp import FakeIdP

GERMAN = {"accept-language": "de"}


@pytest.mark.parametrize(
    ("error", "reason", "testid"),
    [
        (NotFound("No tenant 'x'."), "not_found", "not-found"),
        (PermissionDenied("No."), "forbidden", "forbidden"),
        (PermissionDenied("Ended.", code="no_session"), "session_expired", "forbidden"),
        (PermissionDenied("Token wrong.", code="csrf_failed"), "form_expired", "forbidden"),
        (PermissionDenied("Replayed.", code="bad_state"), "sign_in_expired", "forbidden"),
        (PermissionDenied("No role.", code="no_role"), "no_role", "forbidden"),
        (AuthenticationFailed("Bad.", reason="malformed"), "sign_in", "error-page"),
        (InvalidRequest("Bad date.", param="from"), "bad_input", "error-page"),
        (PayloadTooLarge("Too big."), "bad_input", "error-page"),
        (Conflict("Exists."), "conflict", "error-page"),
        (LedgerUnavailable("Down."), "unavailable", "error-page"),
        (RateLimited("Slow down."), "error", "error-page"),
        (GatewayError("Broken."), "error", "error-page"),
    ],
)
def test_each_error_gets_a_message_of_its_own(
    error: GatewayError, reason: str, testid: str
) -> None:
    view = error_view(error)
    assert (view.reason, view.testid, view.status) == (reason, testid, error.status_code)
    assert view.reason in REASONS
    assert view.detail == error.message
    assert view.field == error.param
    for language in ("de", "en"):
        assert f"error.{reason}.title" in catalogue(language)


def _shown(html: str) -> str:
    """The page's text without its folded technical detail."""
    return re.sub(r"<details.*?</details>", "", html, flags=re.S)


def _reason(html: str) -> str:
    found = re.search(r'data-reason="([a-z_]+)"', html)
    assert found, html[:500]
    return found.group(1)


def test_a_german_not_found_page_keeps_the_english_detail_folded(
    client: TestClient, idp: FakeIdP
) -> None:
    sign_in(client, idp, TOM)
    client.headers.update(GERMAN)
    page = client.get("/console/tenants/limited")  # another tenant: not found, for tom
    assert page.status_code == 404
    assert _reason(page.text) == "not_found"
    assert 'data-testid="not-found"' in page.text
    assert "Nicht gefunden" in page.text
    assert "No tenant" not in _shown(page.text)  # not in the German text ...
    assert 'data-testid="error-detail"' in page.text  # ... only in the folded detail
    assert 'lang="en"' in page.text


def test_bad_input_names_the_field(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, ALICE)
    client.headers.update(GERMAN)
    page = client.get("/console/usage?from=yesterday")
    assert page.status_code == 400
    assert _reason(page.text) == "bad_input"
    assert "Ungültige Eingabe" in page.text
    assert 'data-testid="error-field">Betroffenes Feld: from<' in page.text
    assert "is not a date" not in _shown(page.text)
    missing = client.get("/console/usage.csv")  # no tenant: FastAPI's validation, same page
    assert missing.status_code == 400
    assert _reason(missing.text) == "bad_input"
    assert 'data-testid="error-field">Betroffenes Feld: tenant<' in missing.text


def test_a_conflict_and_an_expired_form_say_what_happened(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, ALICE)
    token = csrf_of(client.get("/console/tenants").text)
    again = {"csrf_token": token, "id": "acme-de", "jurisdictions": "DE"}
    exists = client.post("/console/tenants", data=again, headers=ORIGIN)
    assert exists.status_code == 409
    assert _reason(exists.text) == "conflict"
    stale = client.post("/console/tenants", data={**again, "csrf_token": "old"}, headers=ORIGIN)
    assert stale.status_code == 403
    assert _reason(stale.text) == "form_expired"
    assert "Form expired" in stale.text  # this client's language: the default, English


def test_a_form_sent_after_the_session_ended_says_so(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, ALICE)
    token = csrf_of(client.get("/console/tenants").text)
    client.cookies.delete("sg_console")
    client.headers.update(GERMAN)
    late = client.post("/console/tenants", data={"csrf_token": token, "id": "late"}, headers=ORIGIN)
    assert late.status_code == 403
    assert _reason(late.text) == "session_expired"
    assert "Sitzung abgelaufen" in late.text
