"""What a platform admin sees of routing and privacy in the console (issue 16), in a real
browser against the real stack: the engines and pools as routing sees them, a GDPR policy
chosen for a tenant on its page and what that policy then finds in a request sent with the
openai SDK to the real engine (types and counts, never the values), and a new key that the
back button does not bring back. Screenshots: console-13-engines, console-14-policies,
console-15-key-page-after-back.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from policies.model import load_preset
from tests.browser.conftest import ConsoleStack
from tests.browser.pages import reload_until, screenshot, sign_in
from tests.servers import EngineUnderTest

pytestmark = pytest.mark.engine  # the stack's gateway is in front of the real engine

POLICY = "gdpr-default"
# Personal data a policy must find, and no page may show: an e-mail address and a German IBAN
# (the Bundesbank's specimen, valid check digits).
EMAIL = "erika.mustermann@example.de"
IBAN = "DE89 3704 0044 0532 0130 00"
PROMPT = f"Antworte mit einem Wort: Soll {EMAIL} die Überweisung auf {IBAN} bekommen?"


def _new_tenant_with_key(page: Page, base: str, prefix: str) -> tuple[str, str, str]:
    """A tenant made through the tenants page and a key issued on its page; the key page is
    left open. Returns (tenant id, key id, key); key ids are the gateway's, not a tenant's."""
    tenant = f"{prefix}-{uuid.uuid4().hex[:6]}"
    key_id = f"{tenant}-k1"
    page.goto(base + "/console/tenants")
    page.get_by_test_id("tenant-create-id").fill(tenant)
    page.get_by_test_id("tenant-create-submit").click()
    expect(page.get_by_test_id("tenant-id")).to_have_text(tenant)
    page.get_by_test_id("key-issue-id").fill(key_id)
    page.get_by_test_id("key-issue-submit").click()
    expect(page.get_by_test_id("key-once-warning")).to_be_visible()
    expect(page.get_by_test_id("key-id")).to_have_text(key_id)
    return tenant, key_id, page.get_by_test_id("key-secret").inner_text().strip()


def _by_type(*summaries: str) -> list[str]:
    """``EMAIL_ADDRESS:pseudonymize=1,...`` (the gateway's headers) as the policies page shows
    them: ``EMAIL_ADDRESS: 1``, per type over prompt and answer, sorted."""
    counts: Counter[str] = Counter()
    for summary in summaries:
        for part in filter(None, summary.split(",")):
            head, _, n = part.rpartition("=")
            counts[head.partition(":")[0]] += int(n)
    return [f"{entity}: {n}" for entity, n in sorted(counts.items())]


def test_engines_page_shows_the_real_engine_as_routing_sees_it(
    stack: ConsoleStack, engine: EngineUnderTest, page: Page
) -> None:
    sign_in(page, stack.base_url, "alice", "/console/engines")
    row = page.get_by_test_id("engine-row")
    expect(row).to_have_count(1)  # the stack's one pool has the one real engine
    # Health comes from the router's scrapes: a gateway just started may not have one yet.
    reload_until(page, lambda: row.get_attribute("data-healthy") == "true")
    expect(row).to_have_attribute("data-engine", engine.base_url)
    expect(row).to_have_attribute("data-pool", "local-de")
    expect(row).to_have_attribute("data-circuit", "closed")
    expect(row).to_have_attribute("data-jurisdiction", "DE")
    expect(row).to_have_attribute("data-site", "de-local-1")
    expect(row).to_contain_text("geschlossen")  # the circuit, in the page's language
    pool = page.get_by_test_id("pool-row-local-de")
    expect(pool).to_have_attribute("data-jurisdiction", "DE")
    expect(pool).to_have_attribute("data-site", "de-local-1")
    expect(pool).to_have_attribute("data-engines", "1")
    expect(pool).to_have_attribute("data-engines-healthy", "1")
    screenshot(page, "console-13-engines")


def test_policy_chosen_in_the_console_shows_what_it_found_never_the_values(
    stack: ConsoleStack, page: Page
) -> None:
    base = stack.base_url
    sign_in(page, base, "alice")
    tenant, _, key = _new_tenant_with_key(page, base, "privacy")

    # The stack's default policy is none: this tenant's requests go unfiltered until its
    # page names one.
    page.goto(f"{base}/console/tenants/{tenant}")
    page.get_by_test_id("policy-select").select_option(POLICY)
    page.get_by_test_id("policy-submit").click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    expect(page.get_by_test_id("tenant-policy")).to_have_text(POLICY)

    # The next request already goes through it: the gateway says which policy, which version.
    version = load_preset(POLICY).version
    raw = stack.client(key).chat.completions.with_raw_response.create(
        model=stack.model, messages=[{"role": "user", "content": PROMPT}], max_tokens=1
    )
    assert raw.headers["x-sovereign-policy"] == f"{POLICY}@{version}"
    # What it found, types and counts (never values): the prompt's two values, and whatever
    # the policy flags in the answer (the model's one word is its own; SmolLM2 has answered
    # "Islam": RELIGION, flagged).
    prompt_found = raw.headers["x-sovereign-pii-prompt"]
    assert prompt_found == "EMAIL_ADDRESS:pseudonymize=1,IBAN:pseudonymize=1"
    expected = _by_type(prompt_found, raw.headers.get("x-sovereign-pii-response", ""))
    assert raw.parse().usage is not None

    # The policies page: the policy in force, its version, and what it found, by type.
    page.goto(base + "/console/policies")
    findings = page.get_by_test_id(f"policy-findings-{tenant}")
    reload_until(page, lambda: "IBAN" in findings.inner_text(), timeout=60)
    expect(page.get_by_test_id(f"policy-name-{tenant}")).to_have_text(POLICY)
    expect(page.get_by_test_id(f"policy-version-{tenant}")).to_have_text(version)
    expect(findings.locator(".tag")).to_have_text(expected)
    html = page.content()
    for value in (EMAIL, IBAN, IBAN.replace(" ", ""), "mustermann", "0532 0130"):
        assert value not in html
    screenshot(page, "console-14-policies")


def test_a_new_key_does_not_come_back_with_the_back_button(stack: ConsoleStack, page: Page) -> None:
    base = stack.base_url
    sign_in(page, base, "alice")
    tenant, key_id, key = _new_tenant_with_key(page, base, "back")

    page.get_by_test_id("back-to-tenant").click()
    expect(page.get_by_test_id("tenant-id")).to_have_text(tenant)
    # Back, in a Chromium that keeps pages for the back button (conftest). The key page was a
    # POST's answer, kept neither in the HTTP cache (no-store) nor in the back-forward cache
    # (only GETs' pages are): Chromium shows its "confirm form resubmission" page, sends
    # nothing. (A browser that did keep it would show it emptied by console.js: see below.)
    with pytest.raises(PlaywrightError, match="ERR_CACHE_MISS"):
        page.go_back()
    expect(page.locator("body")).not_to_contain_text(key)
    assert key not in page.content()
    screenshot(page, "console-15-key-page-after-back")

    # Nothing was sent again: the tenant still has its one key. Rotated, a new one is shown.
    page.goto(f"{base}/console/tenants/{tenant}")
    expect(page.get_by_test_id(re.compile(r"^key-row-"))).to_have_count(1)
    page.get_by_test_id(f"key-rotate-{key_id}").click()
    rotated = page.get_by_test_id("key-secret")
    expect(rotated).to_have_text(re.compile(r"\S"))
    # A browser that keeps pages in a back-forward cache fires pagehide (persisted) as it
    # puts one away: console.js then takes the key off the page. Dispatched by hand here, as
    # Chromium never keeps this page (above).
    page.evaluate("""() => window.dispatchEvent(
        new PageTransitionEvent("pagehide", {persisted: true}))""")
    expect(rotated).to_have_text("")
