"""Base64 blobs that decode to text: found, decoded (within a budget) for the analyzer to read.

"Kontodaten: SUJBTiBERTg5IDM3MDQg..." hides an IBAN from every pattern. ``blobs`` finds runs
of at least ``MIN_CHARS`` characters of the standard (``+/``) or the URL-safe (``-_``)
alphabet, with up to two ``=`` of padding. Lines of equal width, a multiple of 4 (what
``base64`` and MIME write, 76 characters), are one blob, up to a shorter last line. A run is
decoded only if it is valid base64 of one alphabet and decodes to UTF-8 text of which at
most ``MAX_CONTROL`` are control characters: binary (images, DER keys, random tokens) fails
that. Long words ("Datenschutzgrundverordnung"), hex digests and codes in capitals have the
shape too; they are skipped before decoding (``_implausible``).

The work is bounded: at most ``BUDGET`` decoded bytes per text, shared by all its blobs. The
first ``HEAD`` characters of a run are decoded first, so binary costs 48 bytes of budget, not
its size; a blob longer than what is left is decoded up to the budget only (the start of a
pasted document is read, its end is not). Decoded text is never searched for base64 again:
one level of encoding is read, not more.

What the analyzer reports for a blob (see ``Analyzer``): one span over the whole blob, of the
entity type that ranks first in ``SEVERITY`` among those found inside (ties: the first in the
decoded text). A policy acts per type, and only one type can cover the blob, so the type is
the one whose exposure does most harm: credentials, then card numbers, identifiers, contact
data, names; Art. 9 categories last, because the presets only flag or route them, which would
leave a name or an IBAN in the same blob in clear.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import codecs
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from policies import entities as e

MIN_CHARS = 16  # 12 decoded bytes: "0171 2345678"
BUDGET = 4_096  # decoded bytes per analysed text
HEAD = 64  # characters (48 bytes) decoded first, to reject binary cheaply
MAX_CONTROL = 0.1  # share of control characters that makes decoded bytes binary

_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_RUN = re.compile(r"[A-Za-z0-9+/_-]{%d,}={0,2}" % MIN_CHARS)  # noqa: UP031 (a regex)
_LINE = re.compile(r"[A-Za-z0-9+/_-]+={0,2}(?=\s|$)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

SEVERITY: tuple[frozenset[str], ...] = (
    frozenset({e.SECRET}),
    frozenset({e.CREDIT_CARD}),
    e.IDENTIFIERS,
    e.CONTACT,
    frozenset({e.PERSON}),
    e.SPECIAL_CATEGORIES,
)


def severity(entity: str) -> int:
    """Rank of ``entity`` in ``SEVERITY`` (0 most severe; unknown types rank last)."""
    return next((n for n, group in enumerate(SEVERITY) if entity in group), len(SEVERITY))


Range = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Blob:
    """``text[start:end]`` is base64 (line breaks included) that decodes to ``decoded``."""

    start: int
    end: int
    decoded: str


def blobs(text: str, budget: int = BUDGET, covered: Sequence[Range] = ()) -> list[Blob]:
    """The base64 blobs of ``text`` that decode to text, decoding at most ``budget`` bytes.

    Runs inside a ``covered`` range (sorted, disjoint: spans found already, such as a JWT or
    a PEM key found as a secret) are not decoded: the span already hides them.
    """
    found: list[Blob] = []
    starts = [lo for lo, _ in covered]
    for candidates in _runs(text):
        if budget < MIN_CHARS * 3 // 4:
            break
        first, last = candidates[0]
        k = bisect.bisect_right(starts, first) - 1
        if _implausible(text[first:last]) or (k >= 0 and covered[k][1] >= last):
            continue
        for start, end in candidates:
            decoded, cost = _decode(text[start:end], budget)
            budget -= cost
            if decoded is not None:
                found.append(Blob(start, end, decoded))
                break
    return found


def _implausible(run: str) -> bool:
    """Base64 shape, but not base64 of text: a word ("Datenschutzgrundverordnung": letters,
    lower case after the first), or from 24 characters on, one case only (hex digests, VINs,
    codes in capitals). Base64 of text mixes both cases: of 184,000 pieces of this project's
    evaluation texts, 12 to 60 bytes each, none looks like this; of 200,000 digit strings, 5."""
    if run.isalpha() and run[1:].islower():
        return True
    return len(run) >= 24 and (run.upper() == run or run.lower() == run)


# Each character as one byte, "a" if it is in the base64 alphabets, " " if not: a C-speed
# substring search for 16 "a"s then finds the runs (the regex alone tries every position of
# every word, ~15 us per 1,000 characters of prose; this costs ~2 us).
_MARKS = bytes(ord("a") if chr(b) in _ALPHABET else ord(" ") for b in range(256))
_SIXTEEN = b"a" * MIN_CHARS


def _marks(text: str) -> bytes:
    # Characters past Latin-1 become "?" (one byte each, so offsets hold), never "a".
    return text.encode("latin-1", "replace").translate(_MARKS)


def _runs(text: str) -> Iterator[list[Range]]:
    """Per run, the ranges to try in turn: the run; for wrapped lines, also the run without
    its last line (a prose line after full-width lines, "...\\nEnde", looks like one)."""
    marks = _marks(text)
    pos = 0
    while (pos := marks.find(_SIXTEEN, pos)) >= 0:  # the first such index starts a run
        match = _RUN.match(text, pos)
        assert match is not None  # the marks are the alphabet of _RUN
        start, end = match.span()
        width, line_start, before_last = end - start, start, end
        while width % 4 == 0 and end - line_start == width and text[end - 1] != "=":
            gap = 2 if text.startswith("\r\n", end) else 1 if text.startswith("\n", end) else 0
            line = _LINE.match(text, end + gap) if gap else None
            if line is None or line.end() - line.start() > width:
                break
            before_last, line_start, end = end, line.start(), line.end()
        pos = end
        yield [(start, end), (start, before_last)] if before_last != end else [(start, end)]


def _decode(run: str, budget: int) -> tuple[str | None, int]:
    """(the text ``run`` decodes to, or None; the decoded bytes that cost)."""
    body = run.replace("\r", "").replace("\n", "").rstrip("=")
    urlsafe = "-" in body or "_" in body
    if urlsafe and ("+" in body or "/" in body):
        return None, 0  # two alphabets: not base64
    altchars = b"-_" if urlsafe else None
    room = budget * 4 // 3 // 4 * 4  # characters the budget still pays for
    whole = len(body) <= room
    if not whole:
        body = body[:room]
    elif len(body) % 4 == 1:
        return None, 0  # no base64 string has this length
    if len(body) < MIN_CHARS:
        return None, 0
    if len(body) > HEAD and _text(body[:HEAD], altchars, final=False) is None:
        return None, HEAD * 3 // 4
    return _text(body, altchars, final=whole), len(body) * 3 // 4


def _text(body: str, altchars: bytes | None, *, final: bool) -> str | None:
    """``body`` (no padding) decoded to text, or None if it is not base64 of text.

    ``final=False``: ``body`` is a prefix, so a character cut at its end is no error.
    """
    padded = body[: len(body) // 4 * 4] if not final else body + "=" * (-len(body) % 4)
    try:
        raw = base64.b64decode(padded, altchars=altchars, validate=True)
        decoded = codecs.getincrementaldecoder("utf-8")().decode(raw, final=final)
    except (binascii.Error, ValueError):
        return None
    if not decoded.strip() or len(_CONTROL.findall(decoded)) > MAX_CONTROL * len(decoded):
        return None
    return decoded
