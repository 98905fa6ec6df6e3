"""German identifiers: Steuer-ID, Steuernummer, USt-IdNr, pension and health insurance numbers,
ID card and passport numbers.

Every recognizer here (and in ``eu_ids``) is an ``IdRecognizer``: one precompiled regex finds
candidates, ``judge`` validates each one (python-stdnum or ``checksums``) and decides entity
and score. Context words are read here, from a window of ``WINDOW`` characters on both sides
of the candidate, not by Presidio's context enhancer, which needs lemmas that a blank spaCy
pipeline does not produce. A recognizer's ``LABELS`` regex has one named group per meaning
(an entity name, or ``NOT_AN_ID`` for labels of look-alikes such as order or phone numbers);
the label nearest to the candidate wins, so "Bestellnummer 123, Steuer-ID 456" gives each
number its own label.

Scores: ``CHECKED`` (1.0) when a check digit validates; ``LABELLED`` (0.85) for numbers that
have no check digit (printed ID card and passport numbers, Steuernummern) and are only
emitted next to a label; ``UNLABELLED`` (0.6, above the analyzer's 0.5) for a
Krankenversichertennummer whose check digit holds but which nothing names, because one in ten
strings of its shape passes. Nothing is emitted when a check digit fails.
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
import re
from typing import ClassVar, NamedTuple

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from stdnum.de import idnr, stnr, vat
from stdnum.es import nie
from stdnum.pl import pesel

from policies import entities as e
from policies.recognizers import base, checksums

CHECKED = 1.0
LABELLED = 0.85
UNLABELLED = 0.6
WINDOW = 50  # characters searched for a label on each side of a candidate
NEGATIVE_REACH = 25  # a look-alike's label ("Bestellnummer") vetoes only this close
AFTER_PENALTY = 10  # a label after the number counts as this much farther than one before
NOT_AN_ID = "NOT_AN_ID"

# Whole numbers only, not slices of longer ones (phone numbers, IBANs, dates): no word
# character, "+" or "digit + separator" before the first digit, and after the last digit no
# digit, even behind one separator. The start guard follows the first digit instead of
# preceding it, so that the regex begins with a character class: the re module then skips
# to candidate characters in C instead of trying the lookbehinds at every position (2x).
NUMBER_START = r"(?<![\w+]\d)(?<!\d[ .,/-]\d)"
NUMBER_END = r"(?![ .,/-]?\d)(?!\w)"
WORD_START = r"(?<!\w\w)"  # after a first letter or digit: no word character before it
# Patterns whose first character may be any letter begin with \b instead: letters are most
# of a text, and a failed \b costs less than a failed attempt at each letter.

# Label vocabularies: lowercase, each alternative anchored at a word start (the regex built by
# ``labels`` puts a single \b in front), German compounds by their head ("bestell" finds
# "Bestellnummer"). Anchoring keeps a label search at a few microseconds.
NEGATIVE_WORDS = (  # labels of look-alikes; prose such as "am Telefon" or "in order to" is not
    r"bestell(?:ung|[- ]?nummer|[- ]?nr)|auftrags?[- ]?(?:nummer|nr)|rechnungs?[- ]?(?:nummer|nr)"
    r"|beleg[- ]?(?:nummer|nr)|ticket|vorgangs?[- ]?(?:nummer|nr)|kunden[- ]?(?:nummer|nr)"
    r"|kd\.?[- ]?nr|sendungs?[- ]?(?:nummer|nr)|tracking|artikel[- ]?(?:nummer|nr)|art\.[- ]?nr"
    r"|aktenzeichen|order(?! to\b)|invoice|receipt|customer (?:no|number|id)|serial"
    r"|serien[- ]?(?:nummer|nr)|tel\b|(?<!am )(?<!per )telefon(?!isch|at)|(?<!the )phone\b"
    r"|phone (?:no|number)|fax|mobil(?:funk)?(?:nummer|[- ]?nr)|handy|festnetz|hotline"
)
TAX_ID_WORDS = (
    r"steuer[- ]?id|steuer-?identifikation|steuerliche\w* id|identifikationsnummer|id-?nr"
    r"|tin\b|tax[- ]id|tax identification|taxpayer"
)
TAX_NUMBER_WORDS = (
    r"steuer[- ]?(?:nummer|nr)|st\.?[- ]?nr|stnr|tax (?:number|no\b|reference)|finanzamt"
)
PESEL_WORDS = r"pesel\b|polish (?:national )?id|polnische\w* (?:id|identifikationsnummer)"


def labels(groups: dict[str, str]) -> re.Pattern[str]:
    """One regex with a group named after each meaning (an entity name or ``NOT_AN_ID``) and
    matching its vocabulary, for lowercased text; see ``nearest_label``."""
    alternatives = "|".join(f"(?P<{name}>{words})" for name, words in groups.items())
    return re.compile(rf"\b(?:{alternatives})")


class Verdict(NamedTuple):
    entity: str
    score: float


class IdRecognizer(EntityRecognizer):
    """A regex finds candidates; ``judge`` validates each and names entity and score."""

    ENTITIES: ClassVar[tuple[str, ...]]
    PATTERN: ClassVar[re.Pattern[str]]
    LABELS: ClassVar[re.Pattern[str] | None] = None

    def __init__(self) -> None:
        super().__init__(supported_entities=list(self.ENTITIES), supported_language="de")

    def load(self) -> None:
        """Nothing to load: the patterns are compiled once, per class."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and not any(entity in entities for entity in self.ENTITIES):
            return []
        results: list[RecognizerResult] = []
        for match in self.PATTERN.finditer(text):
            verdict = self.judge(text, match)
            if verdict is not None and (not entities or verdict.entity in entities):
                results.append(self.result(verdict, match.start(), match.end()))
        return results

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        raise NotImplementedError

    def result(self, verdict: Verdict, start: int, end: int) -> RecognizerResult:
        return base.result(self, verdict.entity, start, end, verdict.score)

    def nearest_label(
        self, text: str, start: int, end: int, vocabulary: re.Pattern[str] | None = None
    ) -> str | None:
        """The meaning of the label closest to ``text[start:end]``, before or after it.

        German puts labels before the number ("Steuer-ID: ...") and sometimes after it
        ("... ist meine Passnummer"), English too. A label before is the likelier one, so one
        after counts as ``AFTER_PENALTY`` characters farther: in "Bestellnummer lautet 123,
        Steuer-ID folgt" the 123 is an order number. A label of a look-alike counts only within
        ``NEGATIVE_REACH``: it labels the number next to it, not one half a sentence away.
        ``vocabulary`` replaces the class's ``LABELS`` for this call.
        """
        vocabulary = vocabulary or self.LABELS
        if vocabulary is None:
            return None
        found: str | None = None
        distance = WINDOW + 1
        first = max(0, start - WINDOW)
        while first > 0 and text[first - 1].isalnum() and start - first < 2 * WINDOW:
            first -= 1  # take in the whole word the window cuts: labels are matched from its start
        before = text[first:start].lower()
        for m in vocabulary.finditer(before):  # the last eligible match is the nearest
            gap = len(before) - m.end()
            if m.lastgroup != NOT_AN_ID or gap <= NEGATIVE_REACH:
                found, distance = m.lastgroup, gap
        for m in vocabulary.finditer(text[end : end + WINDOW].lower()):
            if m.start() + AFTER_PENALTY >= distance:
                break
            if m.lastgroup != NOT_AN_ID or m.start() <= NEGATIVE_REACH:
                return m.lastgroup
        return found


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


class SteuerIdRecognizer(IdRecognizer):
    """Steuerliche Identifikationsnummer: 11 digits, printed 2-3-3-3 on tax letters, but
    written by people in any grouping (3-3-3-2, 4-4-3, ...) or none.

    ``stdnum.de.idnr`` (repeated-digit rule and ISO 7064 check) passes 0.33 % of random
    11-digit numbers, so no label is needed. Groups must have 2 to 4 digits (single spaces
    or single dashes between them, one kind per number: "860-957-427-19"), so a row of single
    digits or an amount with spaces is not read as one. An 11-digit PESEL validates as an
    IdNr now and then: a nearer "PESEL" label hands such a number to ``PeselRecognizer``.
    """

    ENTITIES = (e.DE_TAX_ID,)
    PATTERN = re.compile(r"[1-9]" + NUMBER_START + r"\d(?:[ \u00a0-]?\d){9}" + NUMBER_END)
    LABELS = labels({e.DE_TAX_ID: TAX_ID_WORDS, e.PL_PESEL: PESEL_WORDS, NOT_AN_ID: NEGATIVE_WORDS})

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        written = match.group().replace("\u00a0", " ")
        if " " in written and "-" in written:
            return None  # one kind of separator, as in every way of writing it
        groups = written.replace("-", " ").split(" ")
        if len(groups) > 1 and not all(2 <= len(group) <= 4 for group in groups):
            return None
        number = _digits(match.group())
        if not idnr.is_valid(number):
            return None
        label = self.nearest_label(text, match.start(), match.end())
        if label == NOT_AN_ID or (label == e.PL_PESEL and pesel.is_valid(number)):
            return None
        return Verdict(e.DE_TAX_ID, CHECKED)


class SteuernummerRecognizer(IdRecognizer):
    """Steuernummer in the state formats ("93815/08152", "21/815/08150", "181/815/08155",
    "133/8150/8159", "013 815 08153", with dashes "21-815-08150") and the 13-digit federal
    form ("2893081508152").

    python-stdnum checks the per-state layout, not the check digit: every 10- and 11-digit
    number passes, and 3.4 % of random 13-digit numbers pass the federal layout (German
    EAN-13 barcodes begin "40", the Mecklenburg-Vorpommern prefix). So every form needs a
    label ("Steuernummer", "St.-Nr.", "Finanzamt", "tax number"), and the score is
    ``LABELLED``. An 11-digit number that is a valid Steuer-ID is left to ``SteuerIdRecognizer``.
    """

    ENTITIES = (e.DE_TAX_NUMBER,)
    PATTERN = re.compile(
        r"\d"
        + NUMBER_START
        + r"(?:\d{4}[/-]\d{5}|\d{1,2}(?P<s>[/ -])\d{3,4}(?P=s)\d{4,5}|\d{12}|\d{9,10})"
        + NUMBER_END
    )
    LABELS = labels({e.DE_TAX_NUMBER: TAX_NUMBER_WORDS, NOT_AN_ID: NEGATIVE_WORDS})

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        number = _digits(match.group())
        if not stnr.is_valid(number) or (len(number) == 11 and idnr.is_valid(number)):
            return None
        if self.nearest_label(text, match.start(), match.end()) != e.DE_TAX_NUMBER:
            return None
        return Verdict(e.DE_TAX_NUMBER, LABELLED)


class UstIdNrRecognizer(IdRecognizer):
    """USt-IdNr: "DE" and 9 digits ("DE 123 456 789", "DE-123-456-789"); the prefix is the
    context."""

    ENTITIES = (e.DE_VAT_ID,)
    PATTERN = re.compile(
        r"[Dd]" + WORD_START + r"[Ee][ -]?\d{3}(?P<s>[ -]?)\d{3}(?P=s)\d{3}" + NUMBER_END
    )

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        return Verdict(e.DE_VAT_ID, CHECKED) if vat.is_valid(match.group()) else None


class DePensionNumberRecognizer(IdRecognizer):
    """Rentenversicherungsnummer, "12150680M034", "12 150680 M 03 4" or "12-150680-M-03-4".

    Carrier area, birth month, letter position and check digit together leave about 0.7 % of
    random strings of this (already rare) shape valid: no label needed.
    """

    ENTITIES = (e.DE_PENSION_NUMBER,)
    PATTERN = re.compile(
        r"\d" + WORD_START + r"\d[ -]?\d{6}[ -]?[A-Za-z][ -]?\d{2}[ -]?\d" + NUMBER_END
    )

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        if not checksums.pension_number_valid(match.group()):
            return None
        return Verdict(e.DE_PENSION_NUMBER, CHECKED)


# Shared by the two recognizers of letter-and-digits document numbers, which compete for the
# same strings ("A123456780" is both shapes): the nearest label decides.
# Health insurance words include the card ("Karte", "card": not "EC-Karte"; "Kreditkarte" does
# not start a word) and the fund ("Kasse": not "Kassenzeichen", a payment reference).
_HEALTH_WORDS = (
    r"kranken|versicherten|versichert|versicherungs-?(?:nummer|nr|karte)|kv-?nr|kvnr|egk\b"
    r"|gesundheitskarte|elektronische gesundheitskarte|(?<!-)karte\b|(?:ersatz)?kasse\b"
    r"|health (?:insurance|card)|insurance (?:no|number|id|card)|insured|insurer|aok\b|barmer"
    r"|dak\b|techniker|tk\b|ikk\b|bkk\b|hkk\b"
)
# Look-alikes of the letter-and-digits shape: invoice, contract, policy and case references.
_DOCUMENT_NEGATIVE_WORDS = (
    NEGATIVE_WORDS + r"|rechnung\b|vertrag|contract|polic(?:e|y)|referenz|reference|case\b"
)
_PASSPORT_WORDS = r"(?:reise|kinder|kinderreise)?pass(?:es|nummer|[- ]?nr)?\b|pässe|passport"
_ID_CARD_WORDS = (
    r"personalausweis|ausweis|perso\b|id[- ]?(?:card|karte)|identity (?:card|document)"
    r"|national id|identitätskarte|npa\b|document (?:no|number)|dokumenten-?nummer"
)
_DOCUMENT_LABELS = labels(
    {
        e.DE_HEALTH_INSURANCE_NUMBER: _HEALTH_WORDS,
        e.DE_PASSPORT: _PASSPORT_WORDS,
        e.DE_ID_CARD: _ID_CARD_WORDS,
        NOT_AN_ID: _DOCUMENT_NEGATIVE_WORDS,
    }
)
# For a string that cannot be a health insurance number: its words do not count there.
_ID_DOCUMENT_LABELS = labels(
    {
        e.DE_PASSPORT: _PASSPORT_WORDS,
        e.DE_ID_CARD: _ID_CARD_WORDS,
        NOT_AN_ID: _DOCUMENT_NEGATIVE_WORDS,
    }
)


class DeHealthInsuranceNumberRecognizer(IdRecognizer):
    """Krankenversichertennummer: a letter and 9 digits, the last a check digit.

    Next to a health insurance word ("Versichertennummer", "Krankenkasse", "Karte", "eGK",
    "health insurance") the score is ``CHECKED``. Unnamed numbers are common too ("the card
    says ..., the letter says ..."), but one in ten strings of this shape (ticket, invoice,
    customer numbers) passes the check, so an unnamed one scores ``UNLABELLED``: enough for
    the default threshold, below a policy that only wants certain findings. It must then be
    written as printed (capital letter, no space, not glued to a longer code: "a 123456789"
    is English), and any other label vetoes it: a look-alike's ("Rechnung", "Ticket") or an ID
    document's, which leaves the string to ``DeIdDocumentRecognizer``.
    """

    ENTITIES = (e.DE_HEALTH_INSURANCE_NUMBER,)
    PATTERN = re.compile(r"\b[A-Za-z][ -]?\d{9}" + NUMBER_END)
    LABELS = _DOCUMENT_LABELS

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        if not checksums.health_insurance_number_valid(match.group()):
            return None
        label = self.nearest_label(text, match.start(), match.end())
        if label == e.DE_HEALTH_INSURANCE_NUMBER:
            return Verdict(e.DE_HEALTH_INSURANCE_NUMBER, CHECKED)
        if label is None and _as_printed(text, match):
            return Verdict(e.DE_HEALTH_INSURANCE_NUMBER, UNLABELLED)
        return None


_OPENERS = frozenset("([{\"':\u201e\u201c\u201a\u2018\u00ab\u00bb")  # brackets, quotes, colon


def _as_printed(text: str, match: re.Match[str]) -> bool:
    """A capital letter and 9 digits, on their own: not "a 123456789", "DE-A123456789"."""
    number, start = match.group(), match.start()
    if not (number[0].isupper() and number[1].isdigit()):
        return False
    return start == 0 or text[start - 1].isspace() or text[start - 1] in _OPENERS


_PASSPORT_SERIES = frozenset("CFGHJK")
_HEALTH_SHAPE = re.compile(r"[A-Z]\d{9}")


class DeIdDocumentRecognizer(IdRecognizer):
    """Personalausweis and Reisepass numbers: 9 characters of the alphabet digits +
    C F G H J K L M N P R T V W X Y Z, the first a letter ("L01X00T47").

    The printed number has no check digit, so it is emitted only next to a label, which also
    names the document. The machine-readable form adds the ICAO 7-3-1 check digit
    ("L01X00T471") and is emitted without a label (at ``UNLABELLED``, since one string in ten
    of the shape passes the check); then the series letter names the document
    (passports C, F, G, H, J, K as the specimen "C01X00T47"; ID cards L to Z). The check
    passes one in ten strings of the shape: the labels of look-alikes (order, ticket numbers)
    still veto it, and so does a health insurance label when the string has the shape of a
    Krankenversichertennummer (letter and 9 digits). An unnamed letter and 9 digits valid
    both ways is left to ``DeHealthInsuranceNumberRecognizer``: every
    Krankenversichertennummer has that shape, few document numbers do. A printed number that
    is also a valid Spanish NIE is left to ``SpanishNieRecognizer``.
    """

    ENTITIES = (e.DE_ID_CARD, e.DE_PASSPORT)
    PATTERN = re.compile(
        r"[CFGHJKLMNPRTVWXYZcfghjklmnprtvwxyz]"
        + WORD_START
        + r"[0-9CFGHJKLMNPRTVWXYZcfghjklmnprtvwxyz]{8}\d?(?!\w)"
    )
    LABELS = _DOCUMENT_LABELS

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        number = match.group().upper()
        if not any(c.isdigit() for c in number):
            return None  # a word of consonants, not a number
        label = self.nearest_label(text, match.start(), match.end())
        if label == NOT_AN_ID:
            return None
        if label == e.DE_HEALTH_INSURANCE_NUMBER:
            if _HEALTH_SHAPE.fullmatch(number):
                return None  # a health insurance number, or one mistyped
            # "Karte" or "Kasse" next to "L01X00T47" says nothing of its kind: a farther
            # document label may.
            label = self.nearest_label(text, match.start(), match.end(), _ID_DOCUMENT_LABELS)
            if label == NOT_AN_ID:
                return None
        if len(number) == 10:
            if not checksums.mrz_document_number_valid(number):
                return None
            if (
                label is None
                and _as_printed(text, match)
                and checksums.health_insurance_number_valid(number)
            ):
                return None
            if label is None:
                # One string in ten of the shape passes the check: unnamed, it scores like an
                # unnamed Krankenversichertennummer, enough to act on, below a named one.
                named = e.DE_PASSPORT if number[0] in _PASSPORT_SERIES else e.DE_ID_CARD
                return Verdict(named, UNLABELLED)
            return Verdict(label, CHECKED)
        if label is None or nie.is_valid(number):
            return None  # unlabelled, or a Spanish NIE ("X1234567L"), whose check letter holds
        return Verdict(label, LABELLED)


def recognizers() -> list[EntityRecognizer]:
    """Fresh instances of the German identifier recognizers."""
    return [
        SteuerIdRecognizer(),
        SteuernummerRecognizer(),
        UstIdNrRecognizer(),
        DePensionNumberRecognizer(),
        DeHealthInsuranceNumberRecognizer(),
        DeIdDocumentRecognizer(),
    ]
