"""GDPR Art. 9 special categories (health, religion, politics, unions, sexual orientation,
ethnic origin, genetic and biometric data), found by German and English keyword lists.

The lists live in data/special_<category>.txt; their syntax is documented at the top of
special_health.txt. German builds compounds, so a list entry can be a whole word, a stem that
begins words ("diabet*": Diabetespatientin), a stem that ends compounds ("*krebs":
Brustkrebs) or a phrase ("multiple sklerose"). Words are compared after lower-casing and
folding ä/ae, ö/oe, ü/ue, ß/ss, so "juedisch" and "jüdisch" are the same word.

A finding covers the shortest phrase that states the fact about a person:
    names and affixes  a party, union, ethnic group or gene ("+" entries) takes in the
                       membership or origin words next to it: "Mitglied der SPD", "member of
                       Unite", "uigurischer Herkunft", "Mutation im CFTR-Gen". Where a name
                       alone says nothing about anyone ("die SPD", "country of origin") it
                       scores below 0.5 and counts only with an affix.
    topic words        "~" entries ("Therapie", "diagnostiziert", "Religion", "Gewerkschaft")
                       show that a text is about the category without stating a fact. They
                       count only where the text states no specific fact of that category,
                       and never as a form label ("Religion: jüdisch" reports "jüdisch").
    form labels        "religion:" reports the value after the colon ("Religion: rk").
    exclusions         "!" entries ("genetic algorithm") suppress their category inside them.
Findings of one category that overlap or touch ("Orthodox Christian") become one.

One recognizer serves all eight entity types: the text is tokenised once, each word costs a
few dictionary look-ups, and a phrase's regex runs only where one of its first words stands.
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import NamedTuple

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from policies.entities import (
    BIOMETRIC,
    ETHNIC_ORIGIN,
    GENETIC,
    HEALTH,
    POLITICAL_OPINION,
    RELIGION,
    SEXUAL_ORIENTATION,
    TRADE_UNION,
)
from policies.recognizers.base import result

DEFAULT_SCORE = 0.75
AFFIX_SCORE = 0.85  # a name with its membership or origin words
ALONE_MIN = 0.5  # a "+" name scored lower counts only with an affix
STEM = 4  # minimum stem length, and the length of the look-up key of stems
CATEGORIES: dict[str, str] = {
    HEALTH: "special_health.txt",
    RELIGION: "special_religion.txt",
    POLITICAL_OPINION: "special_political_opinion.txt",
    TRADE_UNION: "special_trade_union.txt",
    SEXUAL_ORIENTATION: "special_sexual_orientation.txt",
    ETHNIC_ORIGIN: "special_ethnic_origin.txt",
    GENETIC: "special_genetic.txt",
    BIOMETRIC: "special_biometric.txt",
}

# Kinds of list entries (bit flags), from the prefixes "~", "+", "!" and a trailing ":".
GENERIC, NAME, NEGATIVE, LABEL = 1, 2, 4, 8
_FLAGS = {"~": GENERIC, "+": NAME, "!": NEGATIVE}

_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "\u2019": "'"})
_PHRASE_CHARS = {
    " ": r"[\s-]+",
    ".": r"\.",
    "*": r"[^\W_]*",
    "'": "['\u2019]",
    "ä": "(?:ä|ae)",
    "ö": "(?:ö|oe)",
    "ü": "(?:ü|ue)",
    "ß": "(?:ß|ss)",
}
_WORD = re.compile(r"[^\W_]+(?:[.'\u2019-][^\W_]+)*")
_PARTS = re.compile(r"[.'\u2019-]")
# The first element of a phrase: a literal word, or a group of literal alternatives.
_FIRST_LITERAL = re.compile(r"[\w'.-]+")
_FIRST_GROUP = re.compile(r"\(([\w'. -]+(?:\|[\w'. -]+)*)\)")
# The value after a form label: one to four words, then a comma, semicolon or line end.
_LABEL_VALUE = re.compile(
    r"[ \t]*:[ \t]*([^\W_][\w.+/()'\u2019-]*(?:[ \t]+[\w.+/()'\u2019-]+){0,3})"
    r"(?=[ \t]*(?:[,;\n]|\.(?!\w)|\Z))"
)
_NO_ANSWER = re.compile(
    r"(?i)(?:keine\s+angabe|k\.\s?a\.|n/?a|none\s+given|not\s+(?:stated|specified|given)"
    r"|prefer\s+not\s+to\s+say|unbekannt|unknown)\.?"
)
_AFFIX_WINDOW = 60  # characters searched before a name for its affix

Found = tuple[int, int, str, float]


class Hit(NamedTuple):
    entity: str
    score: float
    kind: int = 0  # GENERIC | NAME | NEGATIVE | LABEL


Stem = tuple[str, Hit]


def fold(word: str) -> str:
    """Lower case with umlauts and ß spelled out: the form list words are compared in."""
    word = word.lower()
    return word if word.isascii() else word.translate(_FOLD)


def _regex(phrase: str) -> str:
    """A phrase as a regex; "<...>" marks the part reported (the rest is context)."""
    i = phrase.find("<")
    j = phrase.find(">", i)
    if i < 0 or j < 0:
        return "".join(_PHRASE_CHARS.get(c, c) for c in phrase)
    return f"{_regex(phrase[:i])}(?P<keep>{_regex(phrase[i + 1 : j])}){_regex(phrase[j + 1 :])}"


def _first_words(phrase: str) -> list[str]:
    """The folded words a phrase can begin with; the phrase is tried only at those words."""
    literal = _FIRST_LITERAL.match(phrase)
    if literal and phrase[literal.end() : literal.end() + 1] in ("", " "):
        return [fold(literal.group(0))]
    group = _FIRST_GROUP.match(phrase)
    if group and phrase[group.end() : group.end() + 1] in ("", " "):
        return [fold(alt.split()[0]) for alt in group.group(1).split("|")]
    raise ValueError(f"special-category phrase must start with a word or (a|b): {phrase!r}")


@dataclass
class Lexicon:
    """All list entries of all categories, indexed for constant-time look-up per word."""

    exact: dict[str, list[Hit]] = field(default_factory=lambda: defaultdict(list))
    cased: dict[str, list[Hit]] = field(default_factory=lambda: defaultdict(list))
    prefix: dict[str, list[Stem]] = field(default_factory=lambda: defaultdict(list))
    suffix: dict[str, list[Stem]] = field(default_factory=lambda: defaultdict(list))
    phrases: list[tuple[str, Hit]] = field(default_factory=list)
    starts: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    # Per entity, regexes of the words that join a name from before / after it.
    before: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    after: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, entry: str, entity: str) -> None:
        """Index one line of a list file (syntax: special_health.txt)."""
        side, colon, affix = entry.partition(":")
        if colon and side in ("before", "after"):
            getattr(self, side)[entity].append(_regex(affix.strip()))
            return
        term, _, score_text = entry.partition("@")
        term = term.strip()
        kind = 0
        while term[:1] in _FLAGS:
            kind |= _FLAGS[term[0]]
            term = term[1:]
        if term.endswith(":"):
            kind, term = kind | LABEL, term[:-1]
        hit = Hit(entity, float(score_text) if score_text else DEFAULT_SCORE, kind)
        if " " in term or "(" in term or "?" in term:
            for word in dict.fromkeys(_first_words(term)):
                self.starts[word].append(len(self.phrases))
            self.phrases.append((_regex(term), hit))
        elif term.startswith("="):
            self.cased[term[1:]].append(hit)
        elif term.startswith("*"):
            stem = _stem(term[1:], entry)
            self.suffix[stem[-STEM:]].append((stem, hit))
        elif term.endswith("*"):
            stem = _stem(term[:-1], entry)
            self.prefix[stem[:STEM]].append((stem, hit))
        else:
            self.exact[fold(term)].append(hit)

    def word_hits(self, word: str) -> list[Hit]:
        """Entries a folded word matches as a whole word, a stem or a compound."""
        hits = list(self.exact.get(word, ()))
        prefix = self.prefix.get(word[:STEM])
        suffix = self.suffix.get(word[-STEM:])
        hits += [hit for stem, hit in prefix or () if word.startswith(stem)]
        hits += [hit for stem, hit in suffix or () if word.endswith(stem) and word != stem]
        return hits


def _stem(text: str, entry: str) -> str:
    stem = fold(text)
    if len(stem) < STEM or "*" in stem:
        raise ValueError(f"stem must have {STEM}+ letters and one '*': {entry!r}")
    return stem


@dataclass(frozen=True)
class Index:
    """The lexicon, per first word one compiled regex of its phrases, and compiled affixes."""

    lexicon: Lexicon
    phrase_at: dict[str, re.Pattern[str]]
    phrase_hits: tuple[Hit, ...]
    phrase_keeps: frozenset[int]  # phrases with a "<...>" part
    before: dict[str, tuple[re.Pattern[str], ...]]
    after: dict[str, tuple[re.Pattern[str], ...]]


def _numbered(lex: Lexicon, i: int) -> str:
    """Phrase i as group p<i>, its reported part as group k<i>: one regex holds many."""
    return f"(?P<p{i}>{lex.phrases[i][0].replace('(?P<keep>', f'(?P<k{i}>')})"


@cache
def index() -> Index:
    """Read and index all list files once."""
    lex = Lexicon()
    package = resources.files("policies.recognizers")
    for entity, filename in CATEGORIES.items():
        text = package.joinpath(f"data/{filename}").read_text("utf-8")
        for line in text.splitlines():
            entry = line.split("#", 1)[0].strip()
            if entry:
                lex.add(entry, entity)
    keeps = frozenset(i for i, (regex, _) in enumerate(lex.phrases) if "(?P<keep>" in regex)
    phrase_at = {
        word: re.compile(f"(?i)(?:{'|'.join(_numbered(lex, i) for i in indices)})(?![^\\W_])")
        for word, indices in lex.starts.items()
    }
    before = {
        entity: tuple(re.compile(rf"(?i)(?<![^\W_])(?:{r})[\s-]+\Z") for r in regexes)
        for entity, regexes in lex.before.items()
    }
    after = {
        entity: tuple(re.compile(rf"(?i)[\s-]+(?:{r})(?![^\W_])") for r in regexes)
        for entity, regexes in lex.after.items()
    }
    hits = tuple(hit for _, hit in lex.phrases)
    return Index(lex, phrase_at, hits, keeps, before, after)


@dataclass
class _Scan:
    """What the word loop collects: findings with their kinds, exclusions and labels."""

    found: dict[tuple[int, int, str], tuple[float, int]] = field(default_factory=dict)
    negatives: list[tuple[int, int, str]] = field(default_factory=list)
    labels: list[tuple[int, str, float]] = field(default_factory=list)

    def keep(self, start: int, end: int, hits: list[Hit]) -> None:
        for entity, score, kind in hits:
            if kind & NEGATIVE:
                self.negatives.append((start, end, entity))
            elif kind & LABEL:
                self.labels.append((end, entity, score))
            else:
                key = (start, end, entity)
                old = self.found.get(key)
                if old is not None:  # specific if any entry is; a name if any entry is
                    score = max(score, old[0])
                    kind = (kind & old[1] & GENERIC) | ((kind | old[1]) & NAME)
                self.found[key] = (score, kind)


def _scan(text: str, idx: Index) -> _Scan:
    scan = _Scan()
    lex, phrase_at = idx.lexicon, idx.phrase_at
    # The loop body runs for every word of the text: plain words that no list knows leave
    # after a few dictionary look-ups.
    exact, prefix, suffix, cased = lex.exact, lex.prefix, lex.suffix, lex.cased
    phrase_get = phrase_at.get
    for match in _WORD.finditer(text):
        raw = match.group()
        word = raw.lower()
        if not word.isascii():
            word = word.translate(_FOLD)
        plain = raw.isalnum()  # no hyphen, dot or apostrophe inside
        phrases = phrase_get(word) or (None if plain else phrase_get(word.split("-")[0]))
        if phrases is not None and (hit := phrases.match(text, match.start())) is not None:
            i = int(str(hit.lastgroup)[1:])
            span = hit.span(f"k{i}") if i in idx.phrase_keeps else hit.span()
            scan.keep(*span, [idx.phrase_hits[i]])
        if len(word) < 3 or (
            plain
            and word not in exact
            and word[:STEM] not in prefix
            and word[-STEM:] not in suffix
            and raw not in cased
        ):
            continue
        hits = lex.word_hits(word) + cased.get(raw, [])
        if not plain:  # "HIV-positiv", "Diabetes-Patientin", "ver.di-Mitglied"
            for part in {*raw.split("-"), *_PARTS.split(raw)}:
                hits += cased.get(part, [])
                if len(part) >= 3:
                    hits += lex.word_hits(fold(part))
        if hits:
            scan.keep(*match.span(), hits)
    return scan


def _joined(m: re.Match[str], side: int) -> int:
    """Where a name's span ends on one side of a matched affix (side 0: before, 1: after).

    An affix with a "<...>" part joins only that part; an empty "<>" joins nothing.
    """
    if "keep" not in m.re.groupindex:
        return m.span()[side]
    keep = m.span("keep")
    return keep[side] if keep[0] < keep[1] else m.span()[1 - side]


def _join_affixes(text: str, idx: Index, start: int, end: int, entity: str) -> tuple[int, int]:
    """The span of a name with the affixes next to it; (-1, -1) if none stands there."""
    joined = False
    for pattern in idx.before.get(entity, ()):
        if m := pattern.search(text, max(0, start - _AFFIX_WINDOW), start):
            joined, start = True, min(start, _joined(m, 0))
            break
    for pattern in idx.after.get(entity, ()):
        if m := pattern.match(text, end):
            joined, end = True, max(end, _joined(m, 1))
            break
        if "-" in text[start:end] and pattern.search(text, start, end):  # "CDU-Mitglied"
            joined = True
            break
    return (start, end) if joined else (-1, -1)


@dataclass(slots=True)
class _Finding:
    start: int
    end: int
    entity: str
    score: float
    generic: bool  # a topic word: dropped where its category has a specific finding


def find(text: str) -> list[Found]:
    """(start, end, entity, score) of every special-category fact in text, sorted."""
    idx = index()
    scan = _scan(text, idx)
    found: list[_Finding] = []
    for (start, end, entity), (score, kind) in scan.found.items():
        if kind & NAME:
            s, e = _join_affixes(text, idx, start, end, entity)
            if s >= 0:
                found.append(_Finding(s, e, entity, max(score, AFFIX_SCORE), False))
                continue
            if score < ALONE_MIN:
                continue
        found.append(_Finding(start, end, entity, score, bool(kind & GENERIC)))
    for end, entity, score in scan.labels:
        value = _LABEL_VALUE.match(text, end)
        if value and not _NO_ANSWER.fullmatch(value.group(1)):
            start, end = value.span(1)
            if text[end - 1] == "." and "." not in text[start : end - 1]:
                end -= 1  # a full stop, not an abbreviation ("r.-k.")
            found.append(_Finding(start, end, entity, score, False))
    found = [
        f
        for f in found
        if not any(f.entity == e and s <= f.start and f.end <= e2 for s, e2, e in scan.negatives)
        and not (f.generic and text[f.end : f.end + 2].lstrip(" ").startswith(":"))  # a label
    ]
    return _merge(text, found)


def _merge(text: str, found: list[_Finding]) -> list[Found]:
    """Per entity, overlapping or touching findings become one ("Orthodox Christian"); then
    topic words go where their category has a specific finding."""
    merged: list[_Finding] = []
    last: dict[str, _Finding] = {}
    for f in sorted(found, key=lambda f: (f.start, -f.end)):
        prev = last.get(f.entity)
        # Touching: a topic word joins only as a modifier ("ethnically Uyghur"), never
        # after the fact ("Bluthochdruck diagnostiziert").
        if prev and (
            f.start <= prev.end
            or (f.start == prev.end + 1 and text[prev.end] in " -" and f.generic <= prev.generic)
        ):
            prev.end, prev.score = max(prev.end, f.end), max(prev.score, f.score)
            prev.generic = prev.generic and f.generic
            continue
        last[f.entity] = f
        merged.append(f)
    specific = {f.entity for f in merged if not f.generic}
    return [
        (f.start, f.end, f.entity, f.score)
        for f in merged
        if not f.generic or f.entity not in specific
    ]


class SpecialCategoryRecognizer(EntityRecognizer):
    """Flags GDPR Art. 9 special-category facts; a policy flags, routes or blocks on them."""

    def __init__(self) -> None:
        super().__init__(supported_entities=list(CATEGORIES), supported_language="de")

    def load(self) -> None:
        index()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        wanted = set(entities) & set(CATEGORIES)
        if not wanted:
            return []
        return [
            result(self, entity, start, end, score, f"{entity.lower()} keyword")
            for start, end, entity, score in find(text)
            if entity in wanted
        ]


def recognizers() -> list[EntityRecognizer]:
    """Fresh instances of this module's recognizers."""
    return [SpecialCategoryRecognizer()]
