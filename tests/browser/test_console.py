"""The console in a real browser, signed in through the real OpenID provider (issue 16, item 4).

A platform admin creates a tenant, issues a key (read once from the page), uses it with the
openai SDK against the real engine (a whole answer and a stream), watches its usage and the
stream's time to first token appear, revokes it (the SDK then gets 401), and verifies the
audit chain; a DPO erases a data subject and gets a receipt; a tenant admin sees its own
tenant only; an auditor verifies but changes nothing. German and English both render. Pages
are saved under tests/browser/screenshots/ (console-*, dpo-*, tenant-admin-*, auditor-*.png).
"""

from __future__ import annotations

import re
import uuid

import openai
import pytest
from openai.types import CompletionUsage
from playwright.sync_api import Page, expect

from gateway.console.formats import DASH
from tests.browser.conftest import ConsoleStack
from tests.browser.pages import (
    click_and_confirm,
    language,
    reload_until,
    screenshot,
    sign_in,
    switch_language,
)
from tests.ledger_db import ledger_records

pytestmark = pytest.mark.engine  # the stack's gateway is in front of the real engine


def _chat(stack: ConsoleStack, key: str) -> str:
    answer = stack.client(key).chat.completions.create(
        model=stack.model,
        messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=4,
    )
    return answer.choices[0].message.content or ""


def _streamed_chat(stack: ConsoleStack, key: str) -> str:
    """A streamed answer (its usage in the last chunk): the gateway times its first token."""
    chunks = stack.client(key).chat.completions.create(
        model=stack.model,
        messages=[{"role": "user", "content": "Name a fruit."}],
        max_tokens=4,
        stream=True,
        stream_options={"include_usage": True},
    )
    text: list[str] = []
    usage: CompletionUsage | None = None
    for chunk in chunks:
        text += [choice.delta.content or "" for choice in chunk.choices]
        usage = chunk.usage or usage
    assert usage is not None
    assert usage.completion_tokens > 0
    return "".join(text)


def test_platform_admin_runs_a_tenant_from_creation_to_revocation(
    stack: ConsoleStack, page: Page
) -> None:
    base = stack.base_url
    sign_in(page, base, "alice")
    assert language(page) == "de"  # the default language
    expect(page.get_by_test_id("role-platform_admin")).to_be_visible()
    screenshot(page, "console-01-overview")

    # A new tenant, through the form.
    tenant = "shop-" + uuid.uuid4().hex[:6]
    page.get_by_test_id("nav-tenants").click()
    page.get_by_test_id("tenant-create-id").fill(tenant)
    page.get_by_test_id("tenant-create-submit").click()
    expect(page.get_by_test_id("tenant-id")).to_have_text(tenant)  # its page, with a notice
    expect(page.get_by_test_id("flash")).to_be_visible()
    screenshot(page, "console-02-tenant-created")
    page.get_by_test_id("nav-tenants").click()
    expect(page.get_by_test_id(f"tenant-row-{tenant}")).to_be_visible()
    screenshot(page, "console-03-tenants")

    # A key, shown once.
    page.get_by_test_id(f"tenant-link-{tenant}").click()
    expect(page.get_by_test_id("tenant-id")).to_have_text(tenant)
    page.get_by_test_id("key-issue-id").fill("sdk-1")
    page.get_by_test_id("key-issue-submit").click()
    secret = page.get_by_test_id("key-secret").inner_text().strip()
    expect(page.get_by_test_id("key-once-warning")).to_be_visible()
    screenshot(page, "console-04-key-issued", mask=[page.get_by_test_id("key-secret")])
    page.goto(f"{base}/console/tenants/{tenant}")
    assert secret not in page.content()  # shown once, never again

    # The key works with the official SDK, against the real engine: a whole answer and a
    # streamed one (only a stream has a time to first token).
    assert _chat(stack, secret)
    assert _streamed_chat(stack, secret)

    # Its usage appears, with the stream's time to first token.
    page.goto(f"{base}/console/usage?tenant={tenant}&by=key")
    requests = page.get_by_test_id("total-requests")
    reload_until(page, lambda: requests.get_attribute("data-value") == "2", timeout=60)
    expect(page.locator('[data-testid="usage-row"][data-name="sdk-1"]')).to_be_visible()
    ttft = page.get_by_test_id("total-ttft-p50")
    expect(ttft).to_have_attribute("data-value", re.compile(r"^\d"))
    expect(ttft).not_to_have_text(DASH)
    expect(page.get_by_test_id("chart-ttft").locator("circle.dot-p50")).to_have_count(1)
    expect(page.get_by_test_id("chart-ttft-empty")).to_have_count(0)
    screenshot(page, "console-05-usage")

    # Revoked in the console: the SDK is refused.
    page.goto(f"{base}/console/tenants/{tenant}")
    assert "sdk-1" in click_and_confirm(page, "key-revoke-sdk-1")
    expect(page.get_by_test_id("key-status-sdk-1")).to_have_attribute("data-status", "revoked")
    screenshot(page, "console-06-key-revoked")
    with pytest.raises(openai.AuthenticationError):
        _chat(stack, secret)

    # The audit trail holds what was done, and its chain verifies.
    page.get_by_test_id("nav-audit").click()
    expect(page.get_by_test_id("audit-record").first).to_be_visible()
    screenshot(page, "console-07-audit")
    page.get_by_test_id("audit-verify-submit").click()
    expect(page.get_by_test_id("audit-verify-result")).to_have_attribute("data-ok", "true")
    screenshot(page, "console-08-audit-verified")

    # Both languages, kept across pages.
    switch_language(page, "en")
    page.goto(f"{base}/console/tenants")
    assert language(page) == "en"
    expect(page.get_by_test_id("page-title")).to_have_text("Tenants")
    screenshot(page, "console-09-tenants-english")
    switch_language(page, "de")
    expect(page.get_by_test_id("page-title")).to_have_text("Mandanten")
    screenshot(page, "console-10-tenants-german")

    # Signing out ends the session (at the IdP too).
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("idp-logout")).to_be_visible()  # the IdP asks, as IdPs do
    screenshot(page, "console-11-idp-sign-out")
    page.get_by_test_id("idp-logout").click()
    expect(page.get_by_test_id("signed-out")).to_be_visible()
    screenshot(page, "console-12-signed-out")
    page.goto(f"{base}/console/tenants")
    expect(page.get_by_test_id("idp-username")).to_be_visible()  # signed out: to the IdP


def test_dpo_erases_a_data_subject_and_the_chain_still_verifies(
    stack: ConsoleStack, page: Page
) -> None:
    subject = "subject-" + uuid.uuid4().hex[:8]
    answer = stack.client(stack.other_key).chat.completions.create(
        model=stack.model, messages=[{"role": "user", "content": "Hi"}], max_tokens=2, user=subject
    )
    assert answer.usage is not None
    assert ledger_records(stack.other_tenant, stack.schema, at_least=1)  # recorded for good

    sign_in(page, stack.base_url, "dora")
    expect(page.get_by_test_id("role-dpo")).to_be_visible()
    page.get_by_test_id("nav-audit").click()
    screenshot(page, "dpo-01-audit")
    page.get_by_test_id("erasure-subject").fill(subject)
    click_and_confirm(page, "erasure-submit")
    expect(page.get_by_test_id("erasure-receipt")).to_be_visible()
    # Its one request's subject, gone from the ledger, and from its audit record.
    expect(page.get_by_test_id("receipt-count-ledger")).to_have_attribute("data-value", "1")
    expect(page.get_by_test_id("receipt-count-audit")).to_have_attribute("data-value", "1")
    assert page.get_by_test_id("receipt-digest").inner_text().strip()
    screenshot(page, "dpo-02-erasure-receipt")

    page.goto(stack.base_url + "/console/audit")
    expect(page.get_by_test_id("receipt-row").first).to_be_visible()
    page.get_by_test_id("audit-verify-submit").click()
    expect(page.get_by_test_id("audit-verify-result")).to_have_attribute("data-ok", "true")
    screenshot(page, "dpo-03-audit-verified-after-erasure")


def test_tenant_admin_sees_only_its_own_tenant(stack: ConsoleStack, page: Page) -> None:
    base = stack.base_url
    sign_in(page, base, "tom")
    expect(page.get_by_test_id("actor-tenant")).to_contain_text(stack.tenant)
    expect(page.get_by_test_id("role-tenant_admin")).to_be_visible()
    screenshot(page, "tenant-admin-01-overview")

    page.goto(f"{base}/console/tenants")
    expect(page.get_by_test_id(f"tenant-row-{stack.tenant}")).to_be_visible()
    expect(page.get_by_test_id(f"tenant-row-{stack.other_tenant}")).to_have_count(0)
    expect(page.get_by_test_id("tenant-create-form")).to_have_count(0)
    screenshot(page, "tenant-admin-02-tenants")

    answer = page.goto(f"{base}/console/tenants/{stack.other_tenant}")
    assert answer is not None
    assert answer.status in (403, 404)
    expect(page.get_by_test_id("error")).to_be_visible()
    # In the page's language (German): the backend's English detail only folded away.
    expect(page.get_by_test_id("error-detail")).to_be_visible()
    expect(page.get_by_test_id("error-detail").locator("p")).to_be_hidden()
    screenshot(page, "tenant-admin-03-other-tenant-refused")

    page.goto(f"{base}/console/usage")
    choices = page.get_by_test_id("usage-tenant").locator("option").all_inner_texts()
    assert stack.tenant in " ".join(choices)
    assert stack.other_tenant not in " ".join(choices)
    expect(page.get_by_test_id("chart-ttft")).to_be_visible()
    screenshot(page, "tenant-admin-04-usage")  # whole answers only (if any): no TTFT, said so
    answer = page.goto(f"{base}/console/usage?tenant={stack.other_tenant}")
    assert answer is not None
    assert answer.status in (403, 404)


def test_auditor_verifies_the_chain_but_changes_nothing(stack: ConsoleStack, page: Page) -> None:
    sign_in(page, stack.base_url, "audrey")
    expect(page.get_by_test_id("role-auditor")).to_be_visible()
    switch_language(page, "en")
    page.get_by_test_id("nav-audit").click()
    expect(page.get_by_test_id("erasure-form")).to_have_count(0)  # a DPO's, not an auditor's
    page.get_by_test_id("audit-verify-submit").click()
    expect(page.get_by_test_id("audit-verify-result")).to_have_attribute("data-ok", "true")
    screenshot(page, "auditor-01-audit-verified-english")
    page.get_by_test_id("nav-tenants").click()
    expect(page.get_by_test_id(f"tenant-row-{stack.tenant}")).to_be_visible()
    expect(page.get_by_test_id("tenant-create-form")).to_have_count(0)
    page.get_by_test_id(f"tenant-link-{stack.tenant}").click()
    expect(page.get_by_test_id("key-issue-form")).to_have_count(0)
    expect(page.get_by_test_id("limits-form")).to_have_count(0)
    screenshot(page, "auditor-02-tenant-read-only")
