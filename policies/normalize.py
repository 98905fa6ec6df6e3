"""Undo the tricks that hide a value from pattern recognizers, and map back to the original.

People (and attackers) write "DE89\u200b3704 ...", full-width "\uff18\uff16\uff10\uff19...",
"D\u0415" with a Cyrillic "\u0415", "0171\u2013123\u20134567" or "4111\u202f1111 ...".
Every recognizer would need to know each trick; instead the analyzer runs them on a
normalised text:

* format characters (category Cf: soft hyphen, zero-width space/joiners, word joiner, BOM,
  bidi controls) and the other default-ignorable characters (variation selectors, the
  combining grapheme joiner, Hangul fillers) are removed;
* each character, or a base character with its combining marks, becomes its NFKC form
  (full-width "\uff18" -> "8", "\ufb01" -> "fi", "\u2460" -> "1", "u" + U+0308 -> "ü"), except
  where NFKC would add a space and a combining mark ("\u00b4" -> " \u0301");
* decimal digits of other scripts become ASCII digits ("٣" -> "3");
* dashes (category Pd and the minus signs) become "-", spaces (Zs) " ", U+2028/2029 "\\n";
* Cyrillic and Greek letters that look like Latin ones become Latin (``CONFUSABLES``, a
  short explicit table), but only inside a token (a run of non-space characters) that also
  holds an ASCII letter or digit: "D\u0415" or "m\u0430x@example.de" are disguised Latin,
  "Олег" and "Αθήνα" are Russian and Greek words and stay.

``Normalized.source_range`` maps a span of the normalised text back to the original: from the
first original character of its first character to the last original character of its last,
so removed characters inside a value (the zero-width space in an IBAN) are part of the span
and a mask replaces them too; removed characters at its edges are not.

Cost: this runs on every text analysed. ASCII texts return at once (``str.isascii`` is a C
loop). Otherwise only the non-ASCII characters are looked at (a regex finds them), each
through a cached per-character rule; German prose has a few per hundred. When every change
keeps the length (a dash, a space, a letter, a full-width digit) the offsets stay the identity
and no map is built; only a change of length builds one (two lists of ints, C-speed ``range``
extensions for the unchanged stretches).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Look-alike letters (Unicode's confusables.txt, restricted to Cyrillic and Greek letters whose
# glyph is a Latin letter's in common fonts).
CONFUSABLES: dict[str, str] = {
    # Cyrillic capitals
    "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M", "\u041d": "H",
    "\u041e": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T", "\u0423": "Y", "\u0425": "X",
    "\u0405": "S", "\u0406": "I", "\u0408": "J", "\u04ae": "Y", "\u04c0": "I", "\u050c": "G",
    "\u051a": "Q", "\u051c": "W",
    # Cyrillic small letters
    "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0443": "y",
    "\u0445": "x", "\u0455": "s", "\u0456": "i", "\u0458": "j", "\u04bb": "h", "\u0501": "d",
    "\u051b": "q", "\u051d": "w", "\u04cf": "l", "\u0461": "w",
    # Greek capitals
    "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H", "\u0399": "I",
    "\u039a": "K", "\u039c": "M", "\u039d": "N", "\u039f": "O", "\u03a1": "P", "\u03a4": "T",
    "\u03a5": "Y", "\u03a7": "X", "\u03f9": "C", "\u037f": "J",
    # Greek small letters
    "\u03bf": "o", "\u03b1": "a", "\u03b9": "i", "\u03ba": "k", "\u03bd": "v", "\u03c1": "p",
    "\u03c5": "u", "\u03c7": "x", "\u03f2": "c", "\u03f3": "j",
}  # fmt: skip
# Default-ignorable characters that are not Cf: invisible, but kept by NFKC.
_IGNORABLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
)
_MINUS = frozenset("\u2212\u02d7\u2796\u207b\u208b")
# Non-ASCII characters that never change: Latin-1 letters (umlauts, accents, ß), typographic
# quotes, currency and a few signs. Runs of the others are all normalisation looks at.
_STABLE = (
    "\u00c0-\u00ff\u2018-\u201f\u20ac\u00a3\u00a7\u00b0\u00a9\u00ae\u00ab\u00bb\u00b7\u00bf\u00a1"
)
# One character, not a run: re scans for a lone class in a tight loop (2.8 us per 1,000
# characters of German prose here), but tries a run's pattern at every position (20 us).
_SUSPECT = re.compile(f"[^\\x00-\\x7f{_STABLE}]")
_REACH = 64  # characters looked at on each side of a look-alike letter for its token


def _fold(c: str) -> str:
    """One character's replacement, leaving look-alike letters to the caller."""
    category = unicodedata.category(c)
    if category == "Cf" or c in _IGNORABLE:
        return ""
    if category == "Zs":
        return " "
    if category in ("Zl", "Zp"):
        return "\n"
    if category == "Pd" or c in _MINUS:
        return "-"
    if category == "Nd" and not c.isascii():
        return str(unicodedata.decimal(c))
    return c


@lru_cache(maxsize=4096)
def rule(c: str) -> str:
    """What the non-ASCII character ``c`` becomes on its own (``c`` if nothing changes)."""
    folded = _fold(c)
    if folded != c:
        return folded
    compat = unicodedata.normalize("NFKC", c)
    if compat == c or any(unicodedata.combining(x) for x in compat):
        return c  # "\u00b4" -> " \u0301" would put a space into words
    return "".join(_fold(x) for x in compat)


KEEP, FIXED, TWIN, MARK = range(4)  # what a non-ASCII character needs (see ``_info``)


@lru_cache(maxsize=4096)
def _info(c: str) -> tuple[str, int, bool]:
    """(replacement, kind, Latin?) of a non-ASCII character. Kinds: ``KEEP`` nothing changes,
    ``FIXED`` the replacement holds anywhere, ``TWIN`` it holds look-alike letters (which
    depend on the token), ``MARK`` a combining mark (composed with its base). Latin: it
    normalises to an ASCII letter or digit ("\uff24", "\u2460")."""
    if unicodedata.combining(c):
        return c, MARK, False
    new = rule(c)
    latin = any(x.isascii() and x.isalnum() for x in new)
    if any(x in CONFUSABLES for x in new):
        return new, TWIN, latin
    return new, KEEP if new == c else FIXED, latin


def _latin(c: str) -> bool:
    return c.isalnum() if c.isascii() else _info(c)[2]


def _latin_token(text: str, i: int) -> tuple[bool, int]:
    """(the token around ``text[i]`` holds a Latin letter or digit, where it ends); a token
    is a run of non-space characters, looked at up to ``_REACH`` characters each side."""
    lo, hi = max(0, i - _REACH), min(len(text), i + 1 + _REACH)
    end = i + 1
    while end < hi and not text[end].isspace():
        end += 1
    start = i
    while start > lo and not text[start - 1].isspace():
        start -= 1
    return any(_latin(c) for c in text[start:end]), end


def _removed(c: str) -> bool:
    return not c.isascii() and not rule(c)


def _cluster_start(text: str, i: int) -> int:
    """The base character of the combining mark at ``i``: the character before it, skipping
    other marks and removed characters ("a" + U+200B + U+0308 is "ä" once U+200B goes)."""
    j = i
    while j > 0 and (unicodedata.combining(text[j - 1]) or _removed(text[j - 1])):
        j -= 1
    return max(j - 1, 0)


def _nfkc(cluster: str) -> str:
    composed = unicodedata.normalize("NFKC", cluster)
    return cluster if composed.startswith(" ") and not cluster.startswith(" ") else composed


Edit = tuple[int, int, str]  # original [start, end) and what replaces it


def _cluster(text: str, i: int, edits: list[Edit]) -> None:
    """Compose the combining mark at ``i`` with its base (replacing edits of that base)."""
    start = _cluster_start(text, i)
    while edits and edits[-1][1] > start:
        start = min(start, edits.pop()[0])
    cluster = text[start : i + 1]
    kept = "".join(x for x in cluster if not _removed(x))
    new = "".join(x if x.isascii() else rule(x) for x in _nfkc(kept))
    if new != cluster:
        edits.append((start, i + 1, new))


def _edits(text: str) -> list[Edit]:
    """Sorted, disjoint replacements that turn ``text`` into its normalised form."""
    edits: list[Edit] = []
    token_end, token_latin = -1, False  # one verdict per token, not per look-alike letter
    for suspect in _SUSPECT.finditer(text):
        i, c = suspect.start(), suspect.group()
        new, kind, _ = _info(c)
        if kind == KEEP:
            continue
        if kind == MARK:
            _cluster(text, i, edits)
            continue
        if kind == TWIN:
            if i >= token_end:
                token_latin, token_end = _latin_token(text, i)
            if token_latin:
                new = "".join(CONFUSABLES.get(x, x) for x in new)  # also "\u1d61" -> "x"
            if new == c:
                continue
        edits.append((i, i + 1, new))
    return edits


@dataclass(frozen=True, slots=True)
class Shifts:
    """Where the normalised text's offsets leave the original's: per edit that changed the
    length, its output range in the normalised text, its original range, and the shift
    (normalised minus original position) after it. Sparse: a few entries for a text with a
    few invisible characters, however long it is."""

    outputs: list[tuple[int, int]]
    originals: list[tuple[int, int]]
    after: list[int]
    output_starts: list[int]

    def char(self, i: int) -> tuple[int, int]:
        """The original range of normalised character ``i``."""
        k = bisect.bisect_right(self.output_starts, i) - 1
        if k < 0:
            return i, i + 1
        if i < self.outputs[k][1]:
            return self.originals[k]
        return i - self.after[k], i - self.after[k] + 1


def _shifts(edits: list[Edit]) -> Shifts | None:
    outputs, originals, after = [], [], []
    shift = 0
    for start, end, new in edits:
        if end - start == len(new) == 1:
            continue  # a character for a character: offsets unchanged
        outputs.append((start + shift, start + shift + len(new)))
        originals.append((start, end))
        shift += len(new) - (end - start)
        after.append(shift)
    if not outputs:
        return None
    return Shifts(outputs, originals, after, [s for s, _ in outputs])


@dataclass(frozen=True, slots=True)
class Normalized:
    """A text, its normalised form, and the map back (``None``: offsets are the identity)."""

    original: str
    text: str
    shifts: Shifts | None = None

    @property
    def shifted(self) -> bool:
        """True if some offset of ``text`` differs from the original's."""
        return self.shifts is not None

    def source_range(self, start: int, end: int) -> tuple[int, int]:
        """The original range of the normalised range ``[start, end)`` (``start < end``)."""
        if self.shifts is None:
            return start, end
        return self.shifts.char(start)[0], self.shifts.char(end - 1)[1]


def normalize(text: str) -> Normalized:
    """``text`` with format characters removed, NFKC forms, dashes, spaces, digits and
    look-alike letters folded (see the module docstring), and the offset map back."""
    if text.isascii() or _SUSPECT.search(text) is None:
        return Normalized(text, text)
    edits = _edits(text)
    if not edits:
        return Normalized(text, text)
    parts: list[str] = []
    pos = 0
    for start, end, new in edits:
        parts.append(text[pos:start])
        parts.append(new)
        pos = end
    parts.append(text[pos:])
    return Normalized(text, "".join(parts), _shifts(edits))
