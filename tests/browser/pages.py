"""What a person does in the console, as steps the tests share: sign in through the IdP's
login form, open a console page, save a screenshot. The console's pages and their
data-testids are H3's (notes: contracts.md, "page map")."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Dialog, Locator, Page, expect

from tests.browser.idp import PASSWORD_SUFFIX

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


def screenshot(page: Page, name: str, *, mask: list[Locator] | None = None) -> Path:
    """Saves the whole page as screenshots/<name>.png; ``mask`` hides secrets (a new key)."""
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, mask=mask or [])
    return path


def sign_in(page: Page, base_url: str, user: str, next_path: str = "/console") -> None:
    """Opens ``next_path`` signed out, signs in at the IdP as ``user``, and waits to be back
    on that page of the console."""
    page.goto(base_url + next_path)
    page.get_by_test_id("idp-username").fill(user)
    page.get_by_test_id("idp-password").fill(user + PASSWORD_SUFFIX)
    page.get_by_test_id("idp-submit").click()
    page.wait_for_url(re.compile(re.escape(base_url + next_path) + r"(\?.*)?$"))
    expect(page.get_by_test_id("whoami")).to_contain_text(user)


def click_and_confirm(page: Page, test_id: str) -> str:
    """Clicks a button whose form asks first (``data-confirm``: the browser's confirm dialog),
    answers OK as a person would, waits for the next page; returns the question asked."""
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    with page.expect_navigation():
        page.get_by_test_id(test_id).click()
    assert asked, f"{test_id}: no confirmation was asked"
    return asked[0]


def language(page: Page) -> str:
    return page.locator("html").get_attribute("lang") or ""


def switch_language(page: Page, lang: str) -> None:
    page.get_by_test_id(f"lang-{lang}").click()
    expect(page.locator("html")).to_have_attribute("lang", lang)


def reload_until(page: Page, ready: Callable[[], bool], timeout: float = 30.0) -> None:
    """Reloads ``page`` until ``ready()`` (what a person does waiting for a number)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{page.url}: still not there after {timeout} s"
        time.sleep(0.5)
        page.reload()
