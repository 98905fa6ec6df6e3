"""Obfuscated values: the analyzer sees through each trick, on each type it applies to, and its
spans cover the value's ORIGINAL characters, so masking replaces all of them.

Tricks: format characters inside a value (zero-width space, non-joiner, joiner, word joiner,
BOM, bidi marks, soft hyphen), full-width forms, Cyrillic and Greek look-alike letters,
dashes between digit groups (ASCII and Unicode), space variants between groups, and values
wrapped in base64. Each case asserts the exact original range and the masked text.

The values are valid and written as people write them; check digits come from python-stdnum
and ``tests/pii_eval/identifiers`` (never from the code under test).
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
import base64
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from policies import entities as e
from policies.analyzer import Analyzer, build_analyzer
from policies.decide import mask_token, rewrite
from tests.pii_eval import identifiers as ids


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return build_analyzer(ner=False)


@dataclass(frozen=True)
class Value:
    """A value as groups people separate, and a sentence around it (``{}`` marks the value)."""

    entity: str
    groups: tuple[str, ...]
    sentence: str
    separator: str = " "

    def written(self, separator: str | None = None) -> str:
        return (self.separator if separator is None else separator).join(self.groups)


PENSION = "12150680M03"
KVNR = "A12345678"
VALUES = {
    e.IBAN: Value(
        e.IBAN, ("DE89", "3704", "0044", "0532", "0130", "00"), "Bitte auf die IBAN {} zahlen."
    ),
    e.DE_TAX_ID: Value(e.DE_TAX_ID, ("86", "095", "742", "719"), "Meine Steuer-ID ist {}."),
    e.PHONE_NUMBER: Value(e.PHONE_NUMBER, ("0171", "234", "5678"), "Ruf mich an: {}, danke."),
    e.CREDIT_CARD: Value(
        e.CREDIT_CARD, ("4111", "1111", "1111", "1111"), "Die Kreditkarte {} ist gesperrt."
    ),
    e.DE_VAT_ID: Value(e.DE_VAT_ID, ("DE", "136", "695", "976"), "USt-IdNr. {} auf der Rechnung."),
    e.DE_PENSION_NUMBER: Value(
        e.DE_PENSION_NUMBER,
        ("12", "150680", "M", "03", ids.rvnr_check_digit(PENSION)),
        "Rentenversicherungsnummer {} liegt vor.",
    ),
    e.DE_TAX_NUMBER: Value(
        e.DE_TAX_NUMBER, ("21", "815", "08150"), "Steuernummer {} beim Finanzamt.", "/"
    ),
    e.DE_HEALTH_INSURANCE_NUMBER: Value(
        e.DE_HEALTH_INSURANCE_NUMBER,
        (KVNR + ids.kvnr_check_digit(KVNR),),
        "Versichertennummer {} auf der Karte.",
    ),
    e.EMAIL_ADDRESS: Value(
        e.EMAIL_ADDRESS, ("sabine.krueger@example.de",), "Schreib an {} bis Freitag."
    ),
    e.SECRET: Value(
        e.SECRET,
        ("ghp_" + "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4",),
        "Bitte {} sofort widerrufen.",
    ),
    e.PERSON: Value(e.PERSON, ("Sabine", "Krüger"), "Ich bin Frau {} aus Köln."),
    e.IP_ADDRESS: Value(e.IP_ADDRESS, ("192.168.178.23",), "Der Router hat die IP {}."),
    e.HEALTH: Value(e.HEALTH, ("Diabetes",), "Ich habe {} und brauche ein Attest."),
}
DIGIT_GROUPS = (
    e.IBAN,
    e.DE_TAX_ID,
    e.PHONE_NUMBER,
    e.CREDIT_CARD,
    e.DE_VAT_ID,
    e.DE_PENSION_NUMBER,
    e.DE_TAX_NUMBER,
)


def insert_inside(value: str, char: str) -> str:
    """``char`` after the 3rd and before the 3rd-last character: inside, never at an edge."""
    return value[:3] + char + value[3:-3] + char + value[-3:]


def fullwidth(value: str) -> str:
    """ASCII letters, digits and signs as their full-width forms (U+FF01..U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in value)


# Latin letters and their Cyrillic or Greek twins.
TWINS = {"E": "\u0415", "a": "\u0430", "e": "\u0435", "p": "\u0440", "A": "\u0391", "o": "\u03bf"}


def confusable(value: str) -> str:
    """The first letter with a twin replaced by it: "DE89" -> "D\u041589"."""
    for i, c in enumerate(value):
        if c in TWINS:
            return value[:i] + TWINS[c] + value[i + 1 :]
    raise AssertionError(f"no letter with a twin in {value!r}")


Trick = Callable[[Value], str]
ZERO_WIDTH = {
    "U+200B zero-width space": "\u200b",
    "U+200C zero-width non-joiner": "\u200c",
    "U+200D zero-width joiner": "\u200d",
    "U+2060 word joiner": "\u2060",
    "U+FEFF BOM": "\ufeff",
    "U+200E left-to-right mark": "\u200e",
    "U+00AD soft hyphen": "\u00ad",
}
DASHES = {
    "hyphen-minus": "-",
    "U+2010 hyphen": "\u2010",
    "U+2011 non-breaking hyphen": "\u2011",
    "U+2012 figure dash": "\u2012",
    "U+2013 en dash": "\u2013",
    "U+2212 minus": "\u2212",
    "U+FE63 small hyphen-minus": "\ufe63",
}
SPACES = {
    "U+00A0 no-break space": "\u00a0",
    "U+2009 thin space": "\u2009",
    "U+2007 figure space": "\u2007",
    "U+202F narrow no-break space": "\u202f",
    "U+3000 ideographic space": "\u3000",
}


def cases() -> list[tuple[str, str, str]]:
    """(case id, entity, obfuscated value)."""
    found: list[tuple[str, str, str]] = []
    for entity, value in VALUES.items():
        for name, char in ZERO_WIDTH.items():
            found.append((f"{entity}-{name}", entity, insert_inside(value.written(), char)))
        if entity not in (e.SECRET, e.HEALTH):
            found.append((f"{entity}-fullwidth", entity, fullwidth(value.written())))
    for entity in (e.IBAN, e.DE_VAT_ID, e.EMAIL_ADDRESS, e.SECRET, e.PERSON):
        found.append((f"{entity}-confusable", entity, confusable(VALUES[entity].written())))
    for entity in DIGIT_GROUPS:
        for name, char in DASHES.items():
            found.append((f"{entity}-{name}", entity, VALUES[entity].written(char)))
        if entity != e.DE_TAX_NUMBER:
            for name, char in SPACES.items():
                found.append((f"{entity}-{name}", entity, VALUES[entity].written(char)))
    return found


CASES = cases()


@pytest.mark.parametrize(("entity", "value"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_an_obfuscated_value_is_found_over_its_original_characters(
    analyzer: Analyzer, entity: str, value: str
) -> None:
    before, after = VALUES[entity].sentence.split("{}")
    text = before + value + after
    spans = [s for s in analyzer.analyze(text) if s.entity == entity]
    assert [(s.start, s.end) for s in spans] == [(len(before), len(before) + len(value))]
    masked = rewrite(text, [(spans[0], mask_token(entity))])
    assert masked == before + mask_token(entity) + after


def test_a_value_is_found_once_obfuscated_with_every_trick_at_once(analyzer: Analyzer) -> None:
    # Full-width digits, a Cyrillic E, an en dash, a thin space and zero-width characters.
    value = "D\u0415\uff18\uff19\u2013\u200b3704\u2009\u00ad0044\u20130532 0130\u200d00"
    text = f"IBAN: {value}."
    spans = analyzer.analyze(text)
    assert [(s.entity, s.text_of(text)) for s in spans] == [(e.IBAN, value)]


def test_spans_stay_valid_ranges_of_the_text_passed(analyzer: Analyzer) -> None:
    # Characters whose compatibility form is longer ("\ufb01" -> "fi", "\u2460" -> "1") and
    # decomposed umlauts ("u" + U+0308) shift every later offset of the normalised text.
    text = (
        "\ufb01le \u2460 von Mu\u0308ller: Steuer-ID 86\u200b095\u200b742\u200b719, "
        "Mail sabine.kru\u0308ger@example.de, IBAN DE89\u00a03704\u00a00044 0532 0130 00."
    )
    spans = analyzer.analyze(text)
    assert [(s.entity, s.text_of(text)) for s in spans] == [
        (e.DE_TAX_ID, "86\u200b095\u200b742\u200b719"),
        (e.EMAIL_ADDRESS, "sabine.kru\u0308ger@example.de"),
        (e.IBAN, "DE89\u00a03704\u00a00044 0532 0130 00"),
    ]
    assert all(0 <= s.start < s.end <= len(text) for s in spans)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))


# --- look-alikes written with the same tricks stay look-alikes -----------------------------

LOOKALIKES = (
    "Termin am 2024-01-15 um 10 Uhr.",
    "Termin am 2024\u201301\u201315 um 10 Uhr.",
    "Das Buch hat die ISBN 978-3-16-148410-0.",
    "ISBN 978\u20133\u201316\u2013148410\u20130, zweite Auflage.",
    "Bestellnummer 561-3877843-8016512 ist unterwegs.",
    "Bestellnummer 302-4471-9913 wurde storniert.",
    "Rechnung RE-2024-004711 über 1\u202f234,56 €.",
    "Kundennummer 123\u200b456\u200b789, Vorgang 4711-0815.",
    "Die Seiten 112\u2013118 und Tabelle 3\u20134 erklären es.",
    "Ticket \uff03\uff12\uff10\uff12\uff14\uff0d\uff13\uff18\uff12\uff11\uff10\uff15 offen.",
    "Sendungsnummer 00340434\u200b161094\u200b042557 liegt vor.",
    "Version 10.0.19045.3803 \u2013 Build 22631, Serie 2024\u20132025.",
)


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalikes_written_with_the_tricks_are_not_reported(analyzer: Analyzer, text: str) -> None:
    assert analyzer.analyze(text) == []


# --- base64 -----------------------------------------------------------------------------------


def b64(text: str, *, urlsafe: bool = False) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("inner", "entity"),
    [
        ("IBAN DE89 3704 0044 0532 0130 00", e.IBAN),
        ("Steuer-ID 86095742719", e.DE_TAX_ID),
        ('{"email": "sabine.krueger@example.de"}', e.EMAIL_ADDRESS),
        ("Ruf mich an: +49 171 2345678", e.PHONE_NUMBER),
        ("Frau Sabine Krüger", e.PERSON),
        ("token=ghp_aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4", e.SECRET),
    ],
)
@pytest.mark.parametrize("urlsafe", [False, True], ids=["standard", "urlsafe"])
def test_a_base64_blob_with_pii_is_reported_whole_as_its_type(
    analyzer: Analyzer, inner: str, entity: str, urlsafe: bool
) -> None:
    blob = b64(inner, urlsafe=urlsafe)
    text = f"Hier die Daten: {blob} (bitte prüfen)"
    spans = analyzer.analyze(text)
    assert [(s.entity, s.text_of(text)) for s in spans] == [(entity, blob)]
    masked = rewrite(text, [(spans[0], mask_token(entity))])
    assert masked == f"Hier die Daten: {mask_token(entity)} (bitte prüfen)"


def test_a_blob_with_several_entities_takes_the_most_severe_type(analyzer: Analyzer) -> None:
    blob = b64("Frau Sabine Krüger, Mail sabine.krueger@example.de, Karte 4111 1111 1111 1111")
    assert [(s.entity, s.start) for s in analyzer.analyze(f"x {blob} y")] == [(e.CREDIT_CARD, 2)]


def test_a_line_wrapped_blob_is_decoded_as_one(analyzer: Analyzer) -> None:
    inner = "Sehr geehrte Damen und Herren, meine IBAN lautet DE89 3704 0044 0532 0130 00."
    encoded = b64(inner)
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert "\n" in wrapped
    text = f"Anhang:\n{wrapped}\nEnde"
    assert [(s.entity, s.text_of(text)) for s in analyzer.analyze(text)] == [(e.IBAN, wrapped)]


@pytest.mark.parametrize(
    "blob",
    [
        b64("Termin am 15.01.2024 um 10 Uhr, Raum 3.14"),
        b64('{"alg":"HS256","typ":"JWT"}'),
        base64.b64encode(bytes(range(256))).decode(),  # binary, not text
        "Datenschutzgrundverordnungen",  # a long word is base64-shaped too
    ],
)
def test_a_blob_without_pii_or_without_text_is_not_reported(analyzer: Analyzer, blob: str) -> None:
    assert analyzer.analyze(f"Daten: {blob} Ende") == []


def test_base64_is_decoded_once_only(analyzer: Analyzer) -> None:
    twice = b64(b64("IBAN DE89 3704 0044 0532 0130 00"))
    assert analyzer.analyze(f"Daten: {twice}") == []


def test_the_decoding_budget_bounds_the_work_on_a_huge_blob(analyzer: Analyzer) -> None:
    filler = "Lorem ipsum dolor sit amet. " * 4_000  # ~110 kB of text, far over the budget
    early = b64("IBAN DE89 3704 0044 0532 0130 00. " + filler)
    late = b64(filler + "IBAN DE89 3704 0044 0532 0130 00.")
    assert [s.entity for s in analyzer.analyze(f"A: {early}")] == [e.IBAN]
    assert analyzer.analyze(f"B: {late}") == []


def test_each_blob_of_a_text_gets_its_own_type(analyzer: Analyzer) -> None:
    name, harmless, iban = (
        b64("Frau Sabine Krüger"),
        b64("Termin am 12.03.2024 um 10 Uhr"),
        b64("IBAN DE89 3704 0044 0532 0130 00"),
    )
    text = f"a {name} b {harmless} c {iban} d"
    assert [(s.entity, s.text_of(text)) for s in analyzer.analyze(text)] == [
        (e.PERSON, name),
        (e.IBAN, iban),
    ]
