"""GDPR Art. 9 special categories (health, religion, politics, unions, sexual orientation,
ethnic origin, genetic and biometric data), found by German and English keyword lists.

The lists live in data/special_<category>.txt; their syntax is documented at the top of
special_health.txt. German builds compounds, so a list entry can be a whole word, a stem that
begins words ("diabet*": Diabetespatientin), a stem that ends compounds ("*krebs":
Brustkrebs) or a phrase ("mitglied der spd"). Words are compared after lower-casing and
folding ä/ae, ö/oe, ü/ue, ß/ss, so "juedisch" and "jüdisch" are the same word.

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

from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult
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

DEFAULT_SCORE = 0.75
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

Hit = tuple[str, float]  # (entity, score)
Stem = tuple[str, str, float]  # (stem, entity, score)


def fold(word: str) -> str:
    """Lower case with umlauts and ß spelled out: the form list words are compared in."""
    word = word.lower()
    return word if word.isascii() else word.translate(_FOLD)


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

    def add(self, entry: str, entity: str) -> None:
        """Index one line of a list file (syntax: special_health.txt)."""
        term, _, score_text = entry.partition("@")
        term = term.strip()
        hit = (entity, float(score_text) if score_text else DEFAULT_SCORE)
        if " " in term or "(" in term or "?" in term:
            for word in _first_words(term):
                self.starts[word].append(len(self.phrases))
            self.phrases.append(("".join(_PHRASE_CHARS.get(c, c) for c in term), hit))
        elif term.startswith("="):
            self.cased[term[1:]].append(hit)
        elif term.startswith("*"):
            stem = _stem(term[1:], entry)
            self.suffix[stem[-STEM:]].append((stem, *hit))
        elif term.endswith("*"):
            stem = _stem(term[:-1], entry)
            self.prefix[stem[:STEM]].append((stem, *hit))
        else:
            self.exact[fold(term)].append(hit)

    def word_hits(self, word: str) -> list[Hit]:
        """Entries a folded word matches as a whole word, a stem or a compound."""
        hits = list(self.exact.get(word, ()))
        prefix = self.prefix.get(word[:STEM])
        suffix = self.suffix.get(word[-STEM:])
        hits += [(e, s) for stem, e, s in prefix or () if word.startswith(stem)]
        hits += [(e, s) for stem, e, s in suffix or () if word.endswith(stem) and word != stem]
        return hits


def _stem(text: str, entry: str) -> str:
    stem = fold(text)
    if len(stem) < STEM or "*" in stem:
        raise ValueError(f"stem must have {STEM}+ letters and one '*': {entry!r}")
    return stem


@dataclass(frozen=True)
class Index:
    """The lexicon plus, per first word, one compiled regex of the phrases it can begin."""

    lexicon: Lexicon
    phrase_at: dict[str, re.Pattern[str]]
    phrase_hits: tuple[Hit, ...]


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
    phrase_at = {
        word: re.compile(
            "(?i)(?:" + "|".join(f"(?P<p{i}>{lex.phrases[i][0]})" for i in indices) + r")(?![^\W_])"
        )
        for word, indices in lex.starts.items()
    }
    return Index(lex, phrase_at, tuple(hit for _, hit in lex.phrases))


def find(text: str) -> list[tuple[int, int, str, float]]:
    """(start, end, entity, score) of every special-category word or phrase in text."""
    idx = index()
    lex, phrase_at = idx.lexicon, idx.phrase_at
    found: dict[tuple[int, int, str], float] = {}

    def keep(start: int, end: int, hits: list[Hit]) -> None:
        for entity, score in hits:
            key = (start, end, entity)
            found[key] = max(score, found.get(key, 0.0))

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
            keep(*hit.span(), [idx.phrase_hits[int(str(hit.lastgroup)[1:])]])
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
            keep(*match.span(), hits)
    return [(start, end, entity, score) for (start, end, entity), score in found.items()]


class SpecialCategoryRecognizer(EntityRecognizer):
    """Flags GDPR Art. 9 special-category words; a policy flags, routes or blocks on them."""

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
            RecognizerResult(
                entity_type=entity,
                start=start,
                end=end,
                score=score,
                analysis_explanation=AnalysisExplanation(
                    recognizer=type(self).__name__,
                    original_score=score,
                    textual_explanation=f"{entity.lower()} keyword",
                ),
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: type(self).__name__,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    # Context is weighed here already; Presidio's enhancer must not add to it.
                    RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True,
                },
            )
            for start, end, entity, score in _merge_overlaps(find(text))
            if entity in wanted
        ]


def _merge_overlaps(found: list[tuple[int, int, str, float]]) -> list[tuple[int, int, str, float]]:
    """Per entity, overlapping findings ("Sinti" in "Sinti und Roma") become the longest."""
    merged: list[tuple[int, int, str, float]] = []
    last: dict[str, int] = {}
    for start, end, entity, score in sorted(found, key=lambda f: (f[0], -f[1])):
        i = last.get(entity)
        if i is not None and start < merged[i][1]:
            s, e, _, best = merged[i]
            merged[i] = (s, max(e, end), entity, max(best, score))
            continue
        last[entity] = len(merged)
        merged.append((start, end, entity, score))
    return merged


def recognizers() -> list[EntityRecognizer]:
    """Fresh instances of this module's recognizers."""
    return [SpecialCategoryRecognizer()]
