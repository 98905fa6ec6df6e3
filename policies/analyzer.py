"""Presidio with German/EU recognizers, offline, orchestrated for a 5 ms budget per prompt.

Our recognizers (``RECOGNIZER_MODULES``, each a ``recognizers() -> list[EntityRecognizer]``)
live in a ``presidio_analyzer.RecognizerRegistry`` for ``"de"`` and return Presidio
``RecognizerResult``s; ``Analyzer.presidio_engine`` wraps the same registry and NLP engine in a
stock ``AnalyzerEngine``. ``Analyzer.analyze`` does not call ``AnalyzerEngine.analyze``: on
four ~1,000-character German prompts dense with PII (2 shared, busy cores, blank spaCy; ranges
over runs) that call takes 2.7-3.9 ms p50, ours 0.9-1.0 ms p50 / 1.4-2.2 ms p99, with the
same spans. Most of the engine's time goes to work these recognizers do not use:

* the spaCy pass (tokens, lemmas, keywords), ~1.2 ms: our recognizers are patterns plus
  checksums and read no tokens. ``LazyNlpArtifacts`` runs spaCy only if one does (NER);
* ``LemmaContextAwareEnhancer`` plus per-recognizer enhancement, ~1.2 ms: our recognizers check
  their own context words (German puts labels after numbers too, which the enhancer misses),
  so running it would only add a second, uncalibrated boost;
* its de-duplication keeps overlapping spans of different types; a policy needs them disjoint.

Instead, per chunk: skip recognizers whose cheap prefilter fails (no digit, no ``@``), call
each remaining recognizer's ``analyze``, drop scores below the threshold, then resolve
overlaps (``resolve_overlaps``). Stock Presidio (``stock_presidio``) on the same prompts:
11.5 ms p50, 10-13x our mean time; at 10,000 characters ours takes 8.8-9.1 ms p50, stock
117-124 ms.

Obfuscation. The recognizers read a normalised text (``policies.normalize``): format
characters (zero-width, soft hyphen, bidi) removed, NFKC forms (full-width digits), dashes,
spaces, digits of other scripts and look-alike Cyrillic/Greek letters folded; spans are mapped
back to the caller's offsets, so a mask also replaces a zero-width character inside a value.
Dashes between digit groups ("DE89-3704-...", "860-957-427-19") are accepted by the
recognizers' own patterns, not folded away here: in keys ("xoxb-1234-5678"), e-mail
addresses and URLs a dash is part of the value, each identifier has its own grouping rule,
and ``NUMBER_START``/``NUMBER_END`` already read a dash as joining, so an ISBN or an order
number stays one number and is never sliced into a valid one. Then base64 blobs are decoded
(``policies.encoded``, at most ``encoded.BUDGET`` bytes per text, one level deep) and their
text analysed; a blob that holds an entity is reported whole, as its most severe type.
Cost on the benchmark's 1,000-character prompts (per-text minima of alternating runs, in one
process): ~7 us for normalisation (most texts take its fast path) and ~10 us for the base64
search, ~40 us end to end (4 %); on prompts dense with obfuscated values ~0.65 ms, of which
~0.1 ms is normalisation and search and the rest the recognizers validating what they can
now see, and the decoded blobs' analysis.

Long texts are cut into chunks (``plan_chunks``) so a call's cost stays linear in length. Our
recognizers measure linear on their own (0.01 to 0.15 us per character each), so 4,000-character
chunks cost ~5 % over one pass; the chunks are insurance against recognizers that are not
(Presidio's phone recognizer: ~52 ms at 4,000 characters; a NER model). Neighbouring chunks
overlap by at least ``overlap`` characters and each chunk *owns* the spans that start between
the midpoints of its overlaps, so an entity up to ``overlap / 2`` (128) characters long that
straddles a cut is found once, whole, with context on both sides, and a fragment cut off at a
chunk edge is never reported. SECRET recognizers run once on the whole text instead: a PEM
private key is longer than any sensible overlap, and their regexes measure linear.

Thread safety: one ``Analyzer`` is shared by the gateway's worker threads. The recognizers
keep no per-call state, except that Presidio's ``PatternRecognizer`` compiles its regexes on
first use, ``functools.cache`` tables fill on first use and ``tldextract`` loads its suffix
list on first use; ``build_analyzer`` runs every recognizer once, so later calls only read.
The spaCy pass, if any, is serialised by ``OfflineSpacyNlpEngine``. Per-call state (chunks,
lazy NLP artifacts, results) is local. Calls hold the GIL: run them off the event loop.
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
import bisect
import importlib
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import presidio_analyzer.predefined_recognizers as stock
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

from policies import encoded
from policies import entities as e
from policies.nlp import LazyNlpArtifacts, build_nlp_engine
from policies.normalize import normalize
from policies.spans import Span

LANGUAGE = "de"
RECOGNIZER_MODULES = (
    "policies.recognizers.de_ids",
    "policies.recognizers.eu_ids",
    "policies.recognizers.contact",
    "policies.recognizers.plates",
    "policies.recognizers.persons",
    "policies.recognizers.credentials",
    "policies.recognizers.special",
)
# Between decoded blobs analysed together: wider than any recognizer's context window (60
# characters), and line breaks, which no name or number runs across.
BLOB_GAP = "\n" + " " * 64 + "\n"
CHUNK_SIZE = 4_000
CHUNK_OVERLAP = 256
WHOLE_TEXT_ENTITIES = frozenset({e.SECRET})

Prefilter = Callable[[str], bool]
_DIGIT = re.compile(r"\d")


def _has_digit(text: str) -> bool:
    return _DIGIT.search(text) is not None


def _has_at(text: str) -> bool:
    return "@" in text


# A recognizer is skipped on a chunk only if every entity it was asked for has a prefilter and
# all of them fail. Only entities that cannot be written without the character are listed.
PREFILTERS: dict[str, Prefilter] = {
    **{entity: _has_digit for entity in e.CHECK_DIGIT_IDS - {e.IT_FISCAL_CODE}},
    e.PHONE_NUMBER: _has_digit,
    e.DE_LICENSE_PLATE: _has_digit,
    e.EMAIL_ADDRESS: _has_at,
}


@dataclass(frozen=True, slots=True)
class Chunk:
    """``[start, end)`` is analysed; spans starting in ``[own_start, own_end)`` are kept."""

    start: int
    end: int
    own_start: int
    own_end: int


def _after_space(text: str, pos: int, floor: int) -> int:
    """The position after the last whitespace in ``text[floor:pos]``, else ``pos``."""
    for i in range(pos, max(floor, 0), -1):
        if text[i - 1].isspace():
            return i
    return pos


def plan_chunks(text: str, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP) -> list[Chunk]:
    """Cut ``text`` at whitespace into chunks of at most ``size`` that overlap by ``overlap``+.

    Every chunk advances by at least ``size - 2 * overlap``, so the characters analysed are at
    most ``len(text) * size / (size - 2 * overlap)``: linear.
    """
    if size < 4 * overlap:
        raise ValueError(f"chunk size {size} must be at least 4 x the overlap {overlap}")
    bounds: list[tuple[int, int]] = []
    start = 0
    while start + size < len(text):
        end = _after_space(text, start + size, start + size - overlap // 2)
        bounds.append((start, end))
        start = _after_space(text, end - overlap, end - overlap - overlap // 2)
    bounds.append((start, len(text)))
    cuts = [(bounds[i][1] + bounds[i + 1][0]) // 2 for i in range(len(bounds) - 1)]
    owns = zip([0, *cuts], [*cuts, len(text)], strict=True)
    return [Chunk(s, end, lo, hi) for (s, end), (lo, hi) in zip(bounds, owns, strict=True)]


def _priority(span: Span) -> tuple[float, int, bool, int, str]:
    """Sort key, best first; start and entity only make ties deterministic."""
    not_check_digit = span.entity not in e.CHECK_DIGIT_IDS
    return (-span.score, span.start - span.end, not_check_digit, span.start, span.entity)


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans sorted by start: higher score wins, then length, then check digit.

    Greedy in priority order: a span is kept unless it overlaps one already kept.
    """
    ranked = sorted(spans, key=_priority)
    kept: list[Span] = []
    starts: list[int] = []
    for span in ranked:
        i = bisect.bisect_right(starts, span.start)
        if (i > 0 and kept[i - 1].end > span.start) or (i < len(kept) and kept[i].start < span.end):
            continue
        starts.insert(i, span.start)
        kept.insert(i, span)
    return kept


@dataclass(frozen=True, slots=True)
class _Entry:
    recognizer: EntityRecognizer
    entities: frozenset[str]
    whole_text: bool


def _may_match(piece: str, asked: Iterable[str], seen: dict[Prefilter, bool]) -> bool:
    """False only if every asked entity has a prefilter and each fails on ``piece``."""
    for entity in asked:
        check = PREFILTERS.get(entity)
        if check is None:
            return True
        if check not in seen:
            seen[check] = bool(check(piece))
        if seen[check]:
            return True
    return False


class Analyzer:
    """Finds entity spans in a text with the recognizers of one language of a registry.

    Build it once (``build_analyzer``), share it between threads, call ``analyze``.
    """

    def __init__(
        self,
        registry: RecognizerRegistry,
        nlp_engine: SpacyNlpEngine,
        *,
        language: str = LANGUAGE,
        score_threshold: float = 0.5,
        chunk_size: int = CHUNK_SIZE,
        chunk_overlap: int = CHUNK_OVERLAP,
        whole_text_entities: Collection[str] = WHOLE_TEXT_ENTITIES,
        decode_budget: int = encoded.BUDGET,
    ) -> None:
        plan_chunks("", chunk_size, chunk_overlap)  # reject a bad size/overlap pair now
        self.registry = registry
        self.nlp_engine = nlp_engine
        self.language = language
        self.score_threshold = score_threshold
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.decode_budget = decode_budget  # base64 bytes decoded per text; 0: none
        whole_text = frozenset(whole_text_entities)
        self._entries = tuple(
            _Entry(
                r, frozenset(r.supported_entities), not whole_text.isdisjoint(r.supported_entities)
            )
            for r in registry.recognizers
            if r.supported_language == language
        )
        self.supported_entities: frozenset[str] = frozenset().union(
            *(x.entities for x in self._entries)
        )

    def analyze(self, text: str, entities: Collection[str] | None = None) -> list[Span]:
        """Non-overlapping spans of ``entities`` (all supported if ``None``), sorted by start.

        Entity names no recognizer supports are ignored: they simply yield no spans. The
        recognizers read the normalised text (``policies.normalize``) and base64 blobs are
        decoded (``policies.encoded``); spans are ranges of ``text`` as passed.
        """
        wanted = self.supported_entities
        if entities is not None:
            wanted = wanted & frozenset(entities)
        selected = [x for x in self._entries if x.entities & wanted]
        if not text or not selected:
            return []
        normalized = normalize(text)
        spans = resolve_overlaps(self._find(normalized.text, selected, wanted))
        if self.decode_budget:
            spans = self._with_blobs(normalized.text, selected, wanted, spans)
        if not normalized.shifted:
            return spans
        # A span that ended inside an expansion ("\ufb01" -> "fi") grows to the whole
        # original character, and may then touch its neighbour: resolve once more.
        return resolve_overlaps(
            Span(*normalized.source_range(s.start, s.end), s.entity, s.score) for s in spans
        )

    def _with_blobs(
        self, text: str, selected: Sequence[_Entry], wanted: frozenset[str], found: list[Span]
    ) -> list[Span]:
        """``found`` (resolved) with one span per base64 blob whose decoded text holds an
        entity (see ``encoded``), resolved again. A blob inside a span found already is left
        to it; spans inside a blob (a fragment of its characters read as a number) give way.

        The decoded texts are analysed in one call, apart by more than any recognizer's
        context window: a call costs ~0.1 ms before it reads a character.
        """
        blobs = encoded.blobs(text, self.decode_budget, [(s.start, s.end) for s in found])
        if not blobs:
            return found
        starts: list[int] = []
        joined = ""
        for blob in blobs:
            joined += BLOB_GAP if joined else ""
            starts.append(len(joined))
            joined += normalize(blob.decoded).text
        best: dict[int, Span] = {}
        for span in resolve_overlaps(self._find(joined, selected, wanted)):
            k = bisect.bisect_right(starts, span.start) - 1
            rank = (encoded.severity(span.entity), span.start)
            if k not in best or rank < (encoded.severity(best[k].entity), best[k].start):
                best[k] = span
        spans = [
            Span(blobs[k].start, blobs[k].end, s.entity, s.score) for k, s in sorted(best.items())
        ]
        ends = {s.start: s.end for s in spans}
        blob_starts = sorted(ends)

        def inside(span: Span) -> bool:
            k = bisect.bisect_right(blob_starts, span.start) - 1
            return k >= 0 and span.end <= ends[blob_starts[k]]

        return resolve_overlaps([s for s in found if not inside(s)] + spans)

    def _find(self, text: str, selected: Sequence[_Entry], wanted: frozenset[str]) -> list[Span]:
        """Every span the ``selected`` recognizers find, overlaps not yet resolved."""
        whole = [x for x in selected if x.whole_text]
        chunked = [x for x in selected if not x.whole_text]
        found: list[Span] = []
        if whole:
            found += self._run(text, Chunk(0, len(text), 0, len(text)), whole, wanted)
        if chunked:
            for chunk in plan_chunks(text, self.chunk_size, self.chunk_overlap):
                found += self._run(text, chunk, chunked, wanted)
        return found

    def _run(
        self, text: str, chunk: Chunk, entries: Sequence[_Entry], wanted: frozenset[str]
    ) -> list[Span]:
        piece = text if chunk.end - chunk.start == len(text) else text[chunk.start : chunk.end]
        artifacts = LazyNlpArtifacts(piece, self.language, self.nlp_engine)
        seen: dict[Prefilter, bool] = {}
        spans: list[Span] = []
        for entry in entries:
            asked = entry.entities & wanted
            if not _may_match(piece, asked, seen):
                continue
            results = entry.recognizer.analyze(piece, sorted(asked), artifacts) or ()
            for r in results:
                start, end = r.start + chunk.start, r.end + chunk.start
                if (
                    r.score >= self.score_threshold
                    and r.entity_type in asked
                    and chunk.own_start <= start < chunk.own_end
                    and end > start
                ):
                    spans.append(Span(start, end, r.entity_type, r.score))
        return spans

    def warm_up(self, text: str = "") -> None:
        """Run every recognizer once, so lazy first-use setup happens before threads share it.

        (``PatternRecognizer`` compiles its regexes on first use, ``tldextract`` parses its
        suffix list.) The text need not match anything; ``WARM_UP_TEXT`` matches most.
        """
        sample = text or WARM_UP_TEXT
        artifacts = LazyNlpArtifacts(sample, self.language, self.nlp_engine)
        for entry in self._entries:
            entry.recognizer.analyze(sample, sorted(entry.entities), artifacts)

    @cached_property
    def presidio_engine(self) -> AnalyzerEngine:
        """A stock ``AnalyzerEngine`` over the same registry and NLP engine (for comparison)."""
        return AnalyzerEngine(
            registry=self.registry,
            nlp_engine=self.nlp_engine,
            supported_languages=[self.language],
            default_score_threshold=self.score_threshold,
        )


WARM_UP_TEXT = (
    "Herr Max Mustermann, Steuer-ID 86095742719, IBAN DE89 3704 0044 0532 0130 00, "
    "Tel. +49 30 1234567, max.mustermann@example.de, 192.168.0.1, B-MM 1234."
)


def load_recognizers(modules: Sequence[str] = RECOGNIZER_MODULES) -> list[EntityRecognizer]:
    """Every recognizer of ``modules``; a missing module is an error, never a silent gap."""
    found: list[EntityRecognizer] = []
    for name in modules:
        for recognizer in importlib.import_module(name).recognizers():
            if recognizer.supported_language != LANGUAGE:
                raise ValueError(f"{name}: {recognizer.name} is not for {LANGUAGE!r}")
            found.append(recognizer)
    return found


def build_analyzer(
    *,
    ner: bool | None = None,
    score_threshold: float = 0.5,
    modules: Sequence[str] = RECOGNIZER_MODULES,
) -> Analyzer:
    """The gateway's analyzer: our recognizers in a registry, blank spaCy (or NER), warmed up.

    ``ner``: ``None`` uses a spaCy NER model for PERSON if one is installed, ``True`` requires
    one, ``False`` never loads one. Takes about a second (imports, spaCy); call it once.
    """
    nlp_engine = build_nlp_engine((LANGUAGE,), ner=ner)
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    for recognizer in load_recognizers(modules):
        registry.add_recognizer(recognizer)
    if nlp_engine.has_ner:
        registry.add_recognizer(
            SpacyRecognizer(supported_language=LANGUAGE, supported_entities=[e.PERSON])
        )
    analyzer = Analyzer(registry, nlp_engine, score_threshold=score_threshold)
    analyzer.warm_up()
    return analyzer


# Presidio's German recognizers (off by default) and the EU ones it ties to other languages,
# registered for "de" so stock Presidio looks for what we look for. Its other German ones
# (DE_PLZ, DE_HANDELSREGISTER, DE_LANR, DE_BSNR, DE_FUEHRERSCHEIN) find types we do not, so
# enabling them would only slow the comparison down.
STOCK_EXTRA_DE = (
    "DeTaxIdRecognizer",
    "DeTaxNumberRecognizer",
    "DeVatIdRecognizer",
    "DeSocialSecurityRecognizer",
    "DeHealthInsuranceRecognizer",
    "DeIdCardRecognizer",
    "DePassportRecognizer",
    "DeKfzRecognizer",
    "EsNifRecognizer",
    "EsNieRecognizer",
    "ItFiscalCodeRecognizer",
    "PlPeselRecognizer",
    "CreditCardRecognizer",
)


def stock_presidio() -> AnalyzerEngine:
    """Stock Presidio, offline, for benchmarks: predefined recognizers for en and de.

    ``load_predefined_recognizers(["en", "de"])`` gives "en" the US/UK set and both languages
    the generic ones (credit card only for en; email, IBAN, IP, phone, URL, date, crypto, MAC,
    UUID, US medical licence) plus a ``SpacyRecognizer``; ``STOCK_EXTRA_DE`` adds the rest for
    "de". Blank spaCy pipelines, so its NER finds nothing, as ours without a model.
    """
    nlp_engine = build_nlp_engine(("en", "de"), ner=False)
    registry = RecognizerRegistry(supported_languages=["en", "de"])
    # Presidio's loader finds recognizer classes by name among every loaded subclass: ours
    # must not share a name with its own (tests/unit/policies/test_analyzer.py checks it).
    registry.load_predefined_recognizers(languages=["en", "de"], nlp_engine=nlp_engine)
    for name in STOCK_EXTRA_DE:
        registry.add_recognizer(getattr(stock, name)(supported_language="de"))
    return AnalyzerEngine(
        registry=registry, nlp_engine=nlp_engine, supported_languages=["en", "de"]
    )


def stock_entity_map() -> dict[str, str]:
    """Stock Presidio entity names -> ours, for the types both detect (others have no match)."""
    same = (
        e.PHONE_NUMBER,
        e.EMAIL_ADDRESS,
        e.CREDIT_CARD,
        e.IP_ADDRESS,
        e.PERSON,
        e.DE_TAX_ID,
        e.DE_TAX_NUMBER,
        e.DE_VAT_ID,
        e.DE_ID_CARD,
        e.DE_PASSPORT,
        e.ES_NIE,
        e.IT_FISCAL_CODE,
        e.PL_PESEL,
    )
    return {
        **{name: name for name in same},
        "IBAN_CODE": e.IBAN,
        "ES_NIF": e.ES_DNI,
        "DE_SOCIAL_SECURITY": e.DE_PENSION_NUMBER,
        "DE_HEALTH_INSURANCE": e.DE_HEALTH_INSURANCE_NUMBER,
        "DE_KFZ": e.DE_LICENSE_PLATE,
    }
