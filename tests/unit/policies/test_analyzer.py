"""The offline analyzer: overlap resolution, chunking, thresholds, offline use, threads.

Most tests use tiny regex recognizers defined here, so they check the orchestration and not
the details of the real recognizers; the last ones run the real ones end to end.
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
import itertools
import os
import re
import socket
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import spacy.cli
import tldextract.tldextract
from presidio_analyzer import EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

from policies import entities as e
from policies import nlp
from policies.analyzer import (
    Analyzer,
    Chunk,
    build_analyzer,
    load_recognizers,
    plan_chunks,
    resolve_overlaps,
    stock_entity_map,
    stock_presidio,
)
from policies.spans import Span


class RegexRecognizer(EntityRecognizer):
    """Emits ``entity`` with ``score`` for every match of ``pattern``; records its inputs."""

    def __init__(self, entity: str, pattern: str, score: float = 0.9) -> None:
        self.pattern = re.compile(pattern)
        self.score = score
        self.calls: list[str] = []
        super().__init__(supported_entities=[entity], supported_language="de", name=entity)

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        self.calls.append(text)
        entity = self.supported_entities[0]
        return [
            RecognizerResult(entity, m.start(), m.end(), self.score)
            for m in self.pattern.finditer(text)
        ]


class TokenReader(RegexRecognizer):
    """Reads the spaCy tokens, as an NER-backed recognizer would."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        assert nlp_artifacts is not None
        self.lemmas = list(nlp_artifacts.lemmas)
        return super().analyze(text, entities, nlp_artifacts)


@pytest.fixture(scope="module")
def nlp_engine() -> SpacyNlpEngine:
    return nlp.build_nlp_engine(("de",), ner=False)


def make_analyzer(
    nlp_engine: SpacyNlpEngine, *recognizers: EntityRecognizer, **options: Any
) -> Analyzer:
    registry = RecognizerRegistry(supported_languages=["de"])
    for recognizer in recognizers:
        registry.add_recognizer(recognizer)
    return Analyzer(registry, nlp_engine, **options)


# --- overlap resolution --------------------------------------------------------------------


def test_higher_score_wins_an_overlap() -> None:
    spans = [Span(0, 20, e.PHONE_NUMBER, 0.6), Span(5, 12, e.DE_TAX_ID, 0.95)]
    assert resolve_overlaps(spans) == [Span(5, 12, e.DE_TAX_ID, 0.95)]


def test_longer_span_wins_at_equal_score() -> None:
    spans = [Span(5, 12, e.DE_TAX_ID, 0.9), Span(0, 20, e.PHONE_NUMBER, 0.9)]
    assert resolve_overlaps(spans) == [Span(0, 20, e.PHONE_NUMBER, 0.9)]


def test_check_digit_identifier_wins_at_equal_score_and_length() -> None:
    for other in (e.PHONE_NUMBER, e.DE_LICENSE_PLATE, e.PERSON):
        spans = [Span(3, 14, other, 0.9), Span(3, 14, e.DE_TAX_ID, 0.9)]
        assert resolve_overlaps(spans) == [Span(3, 14, e.DE_TAX_ID, 0.9)]


def test_resolution_keeps_disjoint_and_touching_spans_sorted() -> None:
    spans = [
        Span(30, 40, e.EMAIL_ADDRESS, 0.9),
        Span(10, 20, e.IBAN, 1.0),
        Span(20, 30, e.PHONE_NUMBER, 0.7),  # touches both neighbours, overlaps neither
        Span(15, 35, e.PERSON, 0.6),  # overlaps all three, loses to each
        Span(0, 5, e.PERSON, 0.8),
    ]
    assert resolve_overlaps(spans) == [
        Span(0, 5, e.PERSON, 0.8),
        Span(10, 20, e.IBAN, 1.0),
        Span(20, 30, e.PHONE_NUMBER, 0.7),
        Span(30, 40, e.EMAIL_ADDRESS, 0.9),
    ]


def test_a_loser_does_not_suppress_its_other_neighbour() -> None:
    # B loses to A; C overlaps only B, so C stays.
    a, b, c = (
        Span(0, 10, e.IBAN, 1.0),
        Span(8, 20, e.PHONE_NUMBER, 0.8),
        Span(18, 25, e.PERSON, 0.7),
    )
    assert resolve_overlaps([c, b, a]) == [a, c]


def test_exact_duplicates_collapse() -> None:
    span = Span(4, 9, e.PERSON, 0.8)
    assert resolve_overlaps([span, span, Span(4, 9, e.PERSON, 0.8)]) == [span]


# --- chunk planning --------------------------------------------------------------------------


FILLER = "der Antrag wurde heute ohne weitere Angaben an die Stelle weitergeleitet und geprüft "


def words(n_chars: int) -> str:
    """Prose without digits or e-mail signs, ``n_chars`` long."""
    return (FILLER * (n_chars // len(FILLER) + 1))[:n_chars]


def test_a_short_text_is_one_chunk() -> None:
    assert plan_chunks("kurz und gut", 400, 100) == [Chunk(0, 12, 0, 12)]


def test_chunks_cut_at_whitespace_overlap_and_own_a_partition_of_the_text() -> None:
    text = words(5_000)
    chunks = plan_chunks(text, 400, 100)
    assert chunks[0].start == 0
    assert chunks[-1].end == len(text)
    assert chunks[0].own_start == 0
    assert chunks[-1].own_end == len(text)
    for left, right in itertools.pairwise(chunks):
        assert left.end - left.start <= 400
        assert text[left.end - 1].isspace()
        assert text[right.start - 1].isspace()
        assert left.end - right.start >= 100  # the overlap
        assert left.own_end == right.own_start  # ownership: no gap, no double
        assert right.own_start - right.start >= 50
        assert left.end - left.own_end >= 50


def test_chunk_size_must_leave_room_for_the_overlap() -> None:
    with pytest.raises(ValueError, match="at least 4 x"):
        plan_chunks("x", 300, 100)


def test_cost_is_linear_in_length(nlp_engine: SpacyNlpEngine) -> None:
    """Count characters handed to a recognizer, not seconds."""
    calls = []
    for n_chars in (20_000, 40_000, 80_000):
        recognizer = RegexRecognizer(e.PERSON, r"nomatch")
        make_analyzer(nlp_engine, recognizer, chunk_size=1_000, chunk_overlap=100).analyze(
            words(n_chars)
        )
        assert max(map(len, recognizer.calls)) <= 1_000
        processed = sum(map(len, recognizer.calls))
        assert n_chars <= processed <= n_chars * 1_000 / (1_000 - 2 * 100)
        calls.append(len(recognizer.calls))
    assert calls[1] <= 2 * calls[0] + 1
    assert calls[2] <= 2 * calls[1] + 1


# --- chunk boundaries ----------------------------------------------------------------------


def test_an_entity_across_every_cut_position_is_found_once_with_its_offsets(
    nlp_engine: SpacyNlpEngine,
) -> None:
    recognizer = RegexRecognizer(e.DE_TAX_ID, r"\bID-\d{3} \d{3} \d{3}\b")
    analyzer = make_analyzer(nlp_engine, recognizer, chunk_size=400, chunk_overlap=100)
    entity = "ID-123 456 789"
    base = words(1_200)
    cut = plan_chunks(base, 400, 100)[0].end
    for at in range(cut - 40, cut + 40, 3):  # slide the entity over the first cut
        text = base[:at] + " " + entity + " " + base[at:]
        start = at + 1
        assert analyzer.analyze(text) == [Span(start, start + len(entity), e.DE_TAX_ID, 0.9)]


class ShortIsSure(RegexRecognizer):
    """Scores shorter matches higher, so a fragment would beat the whole in a tie-break."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts)
        for r in results:
            r.score = 1 - (r.end - r.start) / 100
        return list(results)


def test_a_fragment_cut_by_a_chunk_edge_is_not_reported(nlp_engine: SpacyNlpEngine) -> None:
    # The chunk before the cut sees only the first digit groups of the number; that fragment
    # must not come back, even though this recognizer would rate it higher than the whole.
    recognizer = ShortIsSure(e.PHONE_NUMBER, r"0\d{3}(?: \d{4})+")
    analyzer = make_analyzer(nlp_engine, recognizer, chunk_size=400, chunk_overlap=100)
    number = "0171 2345 6789 0123 4567"
    base = words(1_200)
    cut = plan_chunks(base, 400, 100)[0].end
    for at in range(cut - len(number) - 2, cut + 2):
        text = base[:at] + " " + number + " " + base[at:]
        assert [s.text_of(text) for s in analyzer.analyze(text)] == [number]


def test_secret_recognizers_see_the_whole_text(nlp_engine: SpacyNlpEngine) -> None:
    key = "-----BEGIN KEY-----" + "A" * 900 + "-----END KEY-----"
    secret = RegexRecognizer(e.SECRET, r"-----BEGIN KEY-----[A-Z]+-----END KEY-----")
    other = RegexRecognizer(e.PERSON, r"nomatch")
    analyzer = make_analyzer(nlp_engine, secret, other, chunk_size=400, chunk_overlap=100)
    text = words(700) + " " + key + " " + words(700)
    assert analyzer.analyze(text) == [Span(701, 701 + len(key), e.SECRET, 0.9)]
    assert secret.calls == [text]
    assert len(other.calls) > 3


# --- threshold, entity filter, prefilters ----------------------------------------------------


def test_score_threshold(nlp_engine: SpacyNlpEngine) -> None:
    weak = RegexRecognizer(e.PERSON, r"Anna", score=0.4)
    strong = RegexRecognizer(e.EMAIL_ADDRESS, r"\S+@\S+", score=0.5)
    text = "Anna schreibt an a@b.de"
    assert make_analyzer(nlp_engine, weak, strong).analyze(text) == [
        Span(17, 23, e.EMAIL_ADDRESS, 0.5)
    ]
    assert [
        s.entity for s in make_analyzer(nlp_engine, weak, strong, score_threshold=0.3).analyze(text)
    ] == [
        e.PERSON,
        e.EMAIL_ADDRESS,
    ]


def test_entities_filter_selects_recognizers_and_results(nlp_engine: SpacyNlpEngine) -> None:
    person = RegexRecognizer(e.PERSON, r"Anna")
    mail = RegexRecognizer(e.EMAIL_ADDRESS, r"\S+@\S+")
    analyzer = make_analyzer(nlp_engine, person, mail)
    text = "Anna schreibt an a@b.de"
    assert analyzer.analyze(text, entities=[e.EMAIL_ADDRESS]) == [
        Span(17, 23, e.EMAIL_ADDRESS, 0.9)
    ]
    assert person.calls == []
    assert analyzer.analyze(text, entities={"NO_SUCH_ENTITY"}) == []
    assert analyzer.analyze(text, entities=[]) == []
    assert len(analyzer.analyze(text, entities=None)) == 2


def test_prefilter_skips_a_digit_recognizer_on_text_without_digits(
    nlp_engine: SpacyNlpEngine,
) -> None:
    phone = RegexRecognizer(e.PHONE_NUMBER, r"\d+")
    analyzer = make_analyzer(nlp_engine, phone)
    assert analyzer.analyze("Ruf mich morgen an, bitte.") == []
    assert phone.calls == []
    assert analyzer.analyze("Ruf 030 an") == [Span(4, 7, e.PHONE_NUMBER, 0.9)]


def test_spacy_runs_only_for_a_recognizer_that_reads_tokens(nlp_engine: SpacyNlpEngine) -> None:
    artifacts = nlp.LazyNlpArtifacts("Frau Krüger zahlt", "de", nlp_engine)
    RegexRecognizer(e.PERSON, r"Krüger").analyze("Frau Krüger zahlt", [e.PERSON], artifacts)
    assert not artifacts.materialised
    reader = TokenReader(e.PERSON, r"Krüger")
    reader.analyze("Frau Krüger zahlt", [e.PERSON], artifacts)
    assert artifacts.materialised
    assert reader.lemmas == ["frau", "krüger", "zahlt"]  # the lemma_lower component


# --- offline ---------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_email_validation_uses_the_bundled_suffix_list(
    no_network: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    assert tldextract.tldextract.TLD_EXTRACTOR.suffix_list_urls == ()
    # Forget any list loaded earlier in this process: the next call must load it again.
    monkeypatch.setattr(tldextract.tldextract.TLD_EXTRACTOR, "_extractor", None)
    text = "Schreib an sabine.krueger@example.co.uk bis Freitag."
    results = EmailRecognizer(supported_language="de").analyze(text, [e.EMAIL_ADDRESS])
    assert [text[r.start : r.end] for r in results] == ["sabine.krueger@example.co.uk"]
    assert no_network == []


FRESH_PROCESS = """
import socket
attempts = []
def refuse(*args, **kwargs):
    attempts.append(args)
    raise OSError("network disabled")
socket.create_connection = socket.getaddrinfo = socket.socket.connect = refuse

from policies.analyzer import build_analyzer
from presidio_analyzer.predefined_recognizers import EmailRecognizer

text = "Bitte an max.mustermann@example.co.uk antworten."
stock = EmailRecognizer(supported_language="de").analyze(text, ["EMAIL_ADDRESS"])
ours = build_analyzer().analyze(text)
print(len(stock), [s.entity for s in ours], len(attempts))
"""


@pytest.mark.parametrize("first", ["", "import presidio_analyzer"])
def test_a_fresh_process_needs_no_network_from_import_to_analyze(first: str) -> None:
    """Nothing set beforehand; ``first``: even if presidio was imported before our code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLDEXTRACT")}
    done = subprocess.run(
        [sys.executable, "-c", f"{first}\n{FRESH_PROCESS}"],
        env=env,
        cwd=Path(__file__).parents[3],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.split("\n")[-2] == "1 ['EMAIL_ADDRESS'] 0"


def test_the_analyzer_never_touches_the_network(no_network: list[object]) -> None:
    analyzer = build_analyzer(ner=False)
    spans = analyzer.analyze("Bitte an max.mustermann@example.de antworten.")
    assert [s.entity for s in spans] == [e.EMAIL_ADDRESS]
    assert no_network == []


def test_spacy_model_downloads_are_refused(no_network: list[object]) -> None:
    with pytest.raises(OSError, match="offline"):
        spacy.cli.download("de_core_news_sm")  # type: ignore[attr-defined]
    engine = SpacyNlpEngine(models=[{"lang_code": "de", "model_name": "de_core_news_sm"}])
    with pytest.raises(OSError, match="offline"):
        engine.load()
    assert no_network == []


def test_ner_true_without_a_model_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(nlp.NER_MODELS, "de", ("no_such_spacy_model",))
    with pytest.raises(LookupError, match="no spaCy NER model"):
        nlp.load_pipeline("de", ner=True)
    assert nlp.load_pipeline("de", ner=None).source == "blank"


# --- the real recognizers --------------------------------------------------------------------

# (text, {(entity, the exact text of its span)} that must be among the spans)
SENTENCES: Sequence[tuple[str, set[tuple[str, str]]]] = (
    (
        "Frau Sabine Krüger (Tel. +49 171 2345678, sabine.krueger@example.de) zahlt von "
        "IBAN DE89 3704 0044 0532 0130 00; ihre Steuer-ID ist 86095742719.",
        {
            (e.PHONE_NUMBER, "+49 171 2345678"),
            (e.EMAIL_ADDRESS, "sabine.krueger@example.de"),
            (e.IBAN, "DE89 3704 0044 0532 0130 00"),
            (e.DE_TAX_ID, "86095742719"),
        },
    ),
    (
        "Please refund Mr. Lukas Fischer to DE02 1203 0000 0000 2020 51 and email him at "
        "l.fischer@t-online.de; the login came from 192.168.10.24.",
        {
            (e.IBAN, "DE02 1203 0000 0000 2020 51"),
            (e.EMAIL_ADDRESS, "l.fischer@t-online.de"),
            (e.IP_ADDRESS, "192.168.10.24"),
        },
    ),
    (
        "Die USt-IdNr. DE136695976 und die Kreditkarte 4111 1111 1111 1111 gehören der Firma, "
        "Rückruf unter 030 12345678.",
        {
            (e.DE_VAT_ID, "DE136695976"),
            (e.CREDIT_CARD, "4111 1111 1111 1111"),
            (e.PHONE_NUMBER, "030 12345678"),
        },
    ),
)


@pytest.fixture(scope="module")
def real_analyzer() -> Analyzer:
    return build_analyzer(ner=False)


@pytest.mark.parametrize(("text", "expected"), SENTENCES)
def test_realistic_sentences(
    real_analyzer: Analyzer, text: str, expected: set[tuple[str, str]]
) -> None:
    spans = real_analyzer.analyze(text)
    assert expected <= {(s.entity, s.text_of(text)) for s in spans}
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))


@pytest.mark.parametrize(("text", "expected"), SENTENCES)
def test_same_findings_as_presidio_analyzer_engine(
    real_analyzer: Analyzer, text: str, expected: set[tuple[str, str]]
) -> None:
    """Skipping the engine's spaCy pass and context enhancer loses nothing."""
    results = real_analyzer.presidio_engine.analyze(text, language="de", score_threshold=0.5)
    engine = resolve_overlaps(Span(r.start, r.end, r.entity_type, r.score) for r in results)
    ours = real_analyzer.analyze(text)
    assert [(s.start, s.end, s.entity) for s in ours] == [
        (s.start, s.end, s.entity) for s in engine
    ]
    assert expected <= {(s.entity, s.text_of(text)) for s in ours}


def test_chunking_finds_what_one_pass_finds(real_analyzer: Analyzer) -> None:
    text = " ".join(f"{s} Vorgang {i}." for i in range(8) for s, _ in SENTENCES)
    one_pass = Analyzer(real_analyzer.registry, real_analyzer.nlp_engine, chunk_size=10**6)
    chunked = Analyzer(
        real_analyzer.registry, real_analyzer.nlp_engine, chunk_size=600, chunk_overlap=150
    )
    assert len(plan_chunks(text, 600, 150)) > 5
    assert chunked.analyze(text) == one_pass.analyze(text)
    assert len(one_pass.analyze(text)) >= 8 * 10


def test_threads_give_the_same_spans_as_serial(real_analyzer: Analyzer) -> None:
    texts = [f"{text} Vorgang {i}." for i in range(12) for text, _ in SENTENCES]
    serial = [real_analyzer.analyze(t) for t in texts]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so calls really interleave
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            parallel = list(pool.map(real_analyzer.analyze, texts))
    finally:
        sys.setswitchinterval(interval)
    assert parallel == serial
    assert all(serial)


def test_stock_presidio_runs_offline(no_network: list[object]) -> None:
    load_recognizers()  # ours share class names with Presidio's (SepaIbanRecognizer, ...)
    engine = stock_presidio()
    modules = {type(r).__module__.split(".")[0] for r in engine.registry.recognizers}
    assert modules == {"presidio_analyzer"}
    text = "Überweisung an DE89 3704 0044 0532 0130 00, Steuer-ID 86095742719."
    found = {r.entity_type for r in engine.analyze(text, language="de", score_threshold=0.5)}
    mapping = stock_entity_map()
    assert {"IBAN_CODE", "DE_TAX_ID"} <= found
    assert mapping["IBAN_CODE"] == e.IBAN
    assert mapping["ES_NIF"] == e.ES_DNI
    assert set(mapping.values()) <= e.ALL
    assert no_network == []


def test_our_recognizer_classes_never_share_a_name_with_presidios() -> None:
    # Presidio's loader resolves recognizers by class name among every loaded subclass: a
    # clash would make stock Presidio load ours (or fail) at random.
    import presidio_analyzer.predefined_recognizers as presidio_recognizers

    ours = {type(r).__name__ for r in load_recognizers()}
    assert ours
    assert ours.isdisjoint(
        name for name in dir(presidio_recognizers) if name.endswith("Recognizer")
    )
