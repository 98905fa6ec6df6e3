"""Catalogues, templates and static files: complete, German and English alike, self-contained."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from gateway.console import charts, error_pages, i18n
from gateway.console.tenant_pages import DONE, LIMITS
from gateway.console.web import NAV
from gateway.core.names import DegradedMode
from gateway.identity.roles import Role
from gateway.routing.breaker import BreakerState

CONSOLE = Path(i18n.__file__).parent
TEMPLATES = sorted((CONSOLE / "templates").glob("*.html"))
STATIC = sorted((CONSOLE / "static").iterdir())
# Keys composed at run time in templates ("nav." ~ name, ...) and where their parts come from.
COMPOSED = {
    "nav.": [name for name, _, _ in NAV],
    "overview.about.": [name for name, _, _ in NAV if name != "overview"],
    "role.": [r.value for r in Role],
    "flash.": sorted(DONE),
    "limits.": list(LIMITS),
    "keys.status.": ["active", "expiring", "revoked"],
    "usage.by.": ["key", "model", "subject"],
    "circuit.": [state.value for state in BreakerState],
    "degraded.": list(get_args(DegradedMode)),
    "policies.source.": ["tenant", "default"],
    "audit.kind.": ["request", "admin", "all"],
    "audit.erasable.": ["present", "erased"],
    "audit.store.": ["audit", "ledger", "pseudonym_vault", "content_log", "batches"],
    "error.": [f"{k}.{p}" for k in error_pages.REASONS for p in ("title", "text")],
}
TITLES = [
    "overview.title",
    "tenants.title",
    "tenant.title",
    "keys.issued_title",
    "usage.title",
    "engines.title",
    "policies.title",
    "audit.title",
    "audit.verify_title",
    "audit.receipt_title",
    "signed_out.title",
]


def test_both_catalogues_have_the_same_keys_and_placeholders() -> None:
    de, en = i18n.catalogue("de"), i18n.catalogue("en")
    assert set(de) == set(en)
    for key in de:
        assert set(re.findall(r"\{(\w+)\}", de[key])) == set(re.findall(r"\{(\w+)\}", en[key])), key
        assert de[key].strip(), key
        assert en[key].strip(), key


def test_every_key_a_page_uses_is_in_the_catalogue() -> None:
    known = set(i18n.catalogue("en"))
    used = set(TITLES)
    for template in TEMPLATES:
        used |= set(re.findall(r"""\bt\(["']([a-z_.0-9]+)["']""", template.read_text()))
    for prefix, parts in COMPOSED.items():
        used |= {prefix + part for part in parts}
    used = {key for key in used if not key.endswith(".")}
    assert used - known == set()
    assert known - used == set(), "keys nobody uses"


def test_no_external_url_in_any_template_or_static_file() -> None:
    files = [*TEMPLATES, *STATIC]
    assert any(f.suffix == ".css" for f in files)
    assert any(f.suffix == ".js" for f in files)
    for path in files:
        text = path.read_text()
        assert not re.search(r"(?i)\b(https?:|ftp:|wss?:)", text), path.name
        assert not re.search(r"""(?:src|href|action)=["']//""", text), path.name
        assert "@import" not in text, path.name
        assert "url(" not in text, path.name


def test_no_visible_text_outside_the_catalogue() -> None:
    """Text between tags is a translated message, a value, or a symbol; never a bare word."""
    allowed = {"DE", "EN", "p50", "p95", "ms", "s", "%"}
    for template in TEMPLATES:
        text = re.sub(r"\{[{%#].*?[}%#]\}", " ", template.read_text(), flags=re.S)
        for chunk in re.findall(r">([^<]+)<", text):
            for word in re.findall(r"[A-Za-zÄÖÜäöüß]{2,}", chunk):
                assert word in allowed, (template.name, word)


def test_bar_and_line_geometry_stays_in_the_frame() -> None:
    assert charts.nice_max(0) == 1
    assert charts.nice_max(7) == 10
    assert charts.nice_max(1200) == 2000
    bars = charts.bar_chart([("a", 5), ("b", 0), ("c", 10)])
    assert not bars.empty
    assert len(bars.bars) == 3
    for bar in bars.bars:
        assert bar.x >= charts.LEFT
        assert bar.x + bar.width <= charts.WIDTH - charts.RIGHT + 0.01
        assert bar.y >= charts.TOP
        assert bar.y + bar.height <= charts.HEIGHT - charts.BOTTOM + 0.01
    assert bars.bars[1].height == 0
    assert bars.bars[2].height > bars.bars[0].height
    lines = charts.line_chart(
        ["a", "b", "c"], {"p50": [10.0, None, 30.0], "p95": [None, None, None]}
    )
    p50, p95 = lines.lines
    assert p50.path.count("M ") == 2
    assert len(p50.dots) == 2
    assert p95.path == ""
    assert not lines.empty
    assert charts.bar_chart([]).empty
    assert charts.line_chart([], {}).empty
