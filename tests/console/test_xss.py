"""Markup in anything a page shows (tenant ids in URLs, query values, model names, IdP
claims) comes out as text: templates are autoescaped, nothing is marked safe, and every
attribute value is quoted."""

from __future__ import annotations

import re
import time
from pathlib import Path

import jwt
from fastapi.testclient import TestClient

from gateway.console.runtime import TEMPLATES, templates
from tests.console.conftest import ALICE, sign_in
from tests.console.fake_idp import FakeIdP

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'


def _clean(html: str) -> None:
    assert "<script>alert" not in html
    assert "<img src=x" not in html


def test_templates_escape_everything_and_quote_every_attribute() -> None:
    assert templates().env.autoescape is True
    for path in Path(TEMPLATES).glob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\|\s*safe\b", text), path.name
        assert "autoescape" not in text, path.name
        assert "Markup" not in text, path.name
        unquoted = re.search(r"<[^>]*\s[\w:-]+=\{[{%]", text)  # attr={{ x }}: no quotes
        assert unquoted is None, (path.name, unquoted and unquoted.group(0))


def test_values_from_the_url_are_shown_as_text(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, ALICE)
    for path, params in (
        ("/console/tenants/" + SCRIPT + IMG, {}),
        ("/console/usage", {"tenant": SCRIPT + IMG, "by": "model"}),
        ("/console/usage", {"from": SCRIPT, "to": IMG}),
        ("/console/audit", {"tenant": SCRIPT + IMG}),
        ("/console/audit", {"kind": SCRIPT}),
        ("/console/nowhere/" + SCRIPT, {"x": IMG}),
    ):
        answer = client.get(path, params=params)
        assert answer.status_code in (200, 400, 403, 404), (path, answer.status_code)
        _clean(answer.text)
        assert answer.headers["x-frame-options"] == "DENY"  # error pages cannot be framed either
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_stored_model_names_and_claims_are_shown_as_text(client: TestClient, idp: FakeIdP) -> None:
    now = int(time.time())
    api_token = jwt.encode(
        {"iss": idp.issuer, "aud": "sovereign-gateway", "sub": "alice" + SCRIPT,
         "sg_roles": ["admins"], "iat": now, "exp": now + 300},
        idp.key, algorithm="RS256", headers={"kid": idp.kid},
    )  # fmt: skip
    made = client.post(
        "/admin/v1/tenants",
        json={"id": "xss-co", "allowed_jurisdictions": ["DE"],
              "allowed_models": [SCRIPT, IMG]},
        headers={"authorization": f"Bearer {api_token}"},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    sign_in(client, idp, {**ALICE, "sub": "alice" + IMG, "preferred_username": SCRIPT})
    for path in ("/console", "/console/tenants", "/console/tenants/xss-co", "/console/audit",
                 "/console/usage?tenant=xss-co"):  # fmt: skip
        page = client.get(path)
        assert page.status_code == 200, path
        _clean(page.text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/console/tenants/xss-co").text
