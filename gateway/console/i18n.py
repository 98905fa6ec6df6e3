"""German and English: the message catalogues and which one a request gets.

The catalogues are ``messages/de.json`` and ``messages/en.json``, flat maps from a message key
to its text (``{name}`` placeholders, filled by ``str.format``); both have the same keys (a
test says so). The language of a request: the switcher's cookie, else the browser's
``Accept-Language`` (by quality), else ``console.default_language``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Final, cast

from gateway.console.settings import Language

LANGUAGES: Final[tuple[Language, ...]] = ("de", "en")
LANGUAGE_COOKIE = "sg_console_lang"
_FOLDER = Path(__file__).parent / "messages"


@cache
def catalogue(language: Language) -> Mapping[str, str]:
    data = json.loads((_FOLDER / f"{language}.json").read_text(encoding="utf-8"))
    return cast(dict[str, str], data)


def as_language(value: str | None) -> Language | None:
    if value is None:
        return None
    primary = value.strip().lower().split("-", 1)[0].split("_", 1)[0]
    for language in LANGUAGES:
        if primary == language:
            return language
    return None


def from_accept_language(header: str | None) -> Language | None:
    """The best-rated of our languages in ``Accept-Language`` (RFC 9110 12.5.4), if any."""
    if not header:
        return None
    best: tuple[float, int, Language] | None = None
    for position, item in enumerate(header.split(",")[:32]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        language = as_language(tag)
        if language is None or quality <= 0:
            continue
        candidate = (quality, -position, language)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return None if best is None else best[2]


def negotiate(cookie: str | None, accept_language: str | None, default: Language) -> Language:
    return as_language(cookie) or from_accept_language(accept_language) or default


class Translator:
    """``t("key", name=...)`` in templates: the text in this request's language."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self._messages = catalogue(language)

    def __call__(self, key: str, /, **params: object) -> str:
        text = self._messages[key]  # a missing key is a bug: the catalogue test catches it
        return text.format(**params) if params else text

    def __contains__(self, key: object) -> bool:
        """For names from elsewhere (a store an erasure reached): ``t(k) if k in t else k``."""
        return key in self._messages
