"""Human-written texts for the watermark's false-positive rate, from what the machine ships:
the manual pages in English (``/usr/share/man/man1``, written by the programs' authors) and in
German (``/usr/share/man/de``, the manpages-de project's human translations), stripped of
their troff markup and cut into passages of about ``words`` words. Nothing is downloaded.

They are technical prose (options, paths, examples), a harder case for a detector than
narrative text: repetitive phrasing is what a green-list test can mistake for a signal.
"""

from __future__ import annotations

import gzip
import random
import re
from collections.abc import Iterator
from pathlib import Path

MAN_EN = Path("/usr/share/man/man1")
MAN_DE = Path("/usr/share/man/de")

_ESCAPES = re.compile(r"\\f[BIRPC]|\\f\(..|\\[&|^~]|\\\(..|\\\*\(..|\\\*.|\\s[-+]?\d")
# The troff names of the characters German needs (and quotes), kept rather than dropped.
_CHARACTERS = {
    r"\(:a": "ä", r"\(:o": "ö", r"\(:u": "ü", r"\(:A": "Ä", r"\(:O": "Ö", r"\(:U": "Ü",
    r"\(ss": "ß", r"\(aq": "'", r"\*(Aq": "'", r"\(dq": '"', r"\(lq": "“", r"\(rq": "”",
    r"\(Bq": "„", r"\(em": "—", r"\(en": "\u2013", r"\(bu": "•",
}  # fmt: skip
# Generated reference pages (the Google Cloud SDK's thousands), not prose a person wrote.
_GENERATED = ("gcloud", "bq", "gsutil")


def troff_to_text(source: str) -> str:
    """The running text of a man page: no requests (lines starting with . or '), fonts,
    escapes or comments. Rough, which is fine for counting tokens."""
    lines = []
    for line in source.splitlines():
        if not line or line.startswith((".", "'")):
            continue
        for name, character in _CHARACTERS.items():
            line = line.replace(name, character)
        text = _ESCAPES.sub("", line).replace("\\-", "-").replace("\\e", "\\")
        lines.append(text.replace("\\", ""))
    return " ".join(" ".join(lines).split())


def _pages(folder: Path, rng: random.Random) -> Iterator[str]:
    paths = [p for p in sorted(folder.rglob("*.gz")) if not p.name.startswith(_GENERATED)]
    rng.shuffle(paths)
    for path in paths:
        try:
            with gzip.open(path, "rt", encoding="utf-8") as page:
                yield troff_to_text(page.read())
        except (OSError, UnicodeDecodeError):
            continue


def passages(language: str, count: int, words: int = 180, seed: int = 5) -> list[str]:
    """Up to ``count`` passages of ``words`` words in ``language`` ("en" or "de"), one per
    page, from pages taken in a seeded random order, skipping pages too short to give one."""
    folder = {"en": MAN_EN, "de": MAN_DE}[language]
    found: list[str] = []
    for text in _pages(folder, random.Random(seed)):
        tokens = text.split()
        if len(tokens) >= words + 20:
            found.append(" ".join(tokens[20 : 20 + words]))  # past the synopsis
        if len(found) >= count:
            break
    return found


def replace_words(text: str, share: float, vocabulary: list[str], rng: random.Random) -> str:
    """A light edit: ``share`` of the words (at random positions) swapped for random words."""
    tokens = text.split(" ")
    for i in rng.sample(range(len(tokens)), round(share * len(tokens))):
        tokens[i] = rng.choice(vocabulary)
    return " ".join(tokens)
