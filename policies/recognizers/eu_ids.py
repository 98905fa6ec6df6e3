"""EU identifiers: IBAN, NL BSN, AT SVNR, FR NIR, IT codice fiscale, ES DNI/NIE, PL PESEL.

Built like ``de_ids`` (see its docstring). Where a check digit alone passes too many random
numbers of the shape (measured on 200,000 random strings each: BSN 9.1 %, DNI 3.8 %, PESEL
1.9 %), a label is required; where it is strong, or the shape is distinctive, none is.
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
import functools
import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from stdnum import iban, numdb
from stdnum.at import vnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pl import pesel

from policies import entities as e
from policies.recognizers.de_ids import (
    CHECKED,
    NEGATIVE_WORDS,
    NOT_AN_ID,
    NUMBER_END,
    NUMBER_START,
    PESEL_WORDS,
    TAX_ID_WORDS,
    TAX_NUMBER_WORDS,
    WORD_START,
    IdRecognizer,
    Verdict,
    labels,
)

_IBAN_REGISTRY = numdb.get("iban")

# Label vocabularies, as in de_ids: lowercase, anchored at a word start.
_BSN_WORDS = r"bsn\b|burger ?service ?nummer|bürgerservicenummer|sofi-?nummer|citizen service"
_SVNR_WORDS = (
    r"svnr|sv-?(?:nummer|nr)|sozialversicherungs|versicherungs-?(?:nummer|nr)|e-?card"
    r"|social (?:security|insurance)|ögk\b|svs\b|bvaeb\b"
)
_NIR_WORDS = (
    r"nir\b|s[ée]curit[ée] sociale|s[ée]cu\b|num[ée]ro de s[ée]cu|insee\b|carte vitale"
    r"|social security|sozialversicherung"
)
_DNI_WORDS = (
    r"dni\b|nif\b|d\.n\.i\.|documento nacional|spanish (?:national )?id"
    r"|spanische\w* (?:ausweis|personalausweis|id)"
)


@functools.cache
def iban_length(country: str) -> int | None:
    """Length of the IBANs of a country (python-stdnum's registry), None if it has none."""
    found = _IBAN_REGISTRY.info(country)
    bban = found[0][1].get("bban") if found and found[0][0] == country else None
    return 4 + sum(int(n) for n in re.findall(r"(\d+)!", bban)) if bban else None


class SepaIbanRecognizer(IdRecognizer):
    """IBANs of every country in python-stdnum's registry (all of SEPA and more), compact or
    in groups of four (spaces or dashes), either case; mod 97 and the country's BBAN format.

    The candidate regex starts at the check digits (digits are rarer than letters, so the
    scan is 2.5x faster) and looks behind for the country code. It is greedy and may run into
    the next word ("... 7034 Bank"), so each candidate is cut to its country's length before
    validation, and the search resumes right after the IBAN found: a second IBAN that
    follows is never lost.
    """

    ENTITIES = (e.IBAN,)
    PATTERN = re.compile(r"\d(?<=\b[A-Za-z]{2}\d)\d(?:[ \u00a0-]?[A-Za-z0-9]){11,30}")

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and e.IBAN not in entities:
            return []
        results: list[RecognizerResult] = []
        pos = 0
        while (match := self.PATTERN.search(text, pos)) is not None:
            start = match.start() - 2  # the country code
            end = self._iban_end(text, start, match.end())
            if end is None:
                pos = match.start() + 1
                continue
            results.append(self.result(Verdict(e.IBAN, CHECKED), start, end))
            pos = end
        return results

    @staticmethod
    def _iban_end(text: str, start: int, stop: int) -> int | None:
        """End of the valid IBAN at ``text[start:]`` (found before ``stop``), or None."""
        length = iban_length(text[start : start + 2].upper())
        if length is None:
            return None
        chars: list[str] = []
        end = start
        while len(chars) < length and end < stop:
            if text[end].isalnum():
                chars.append(text[end])
            end += 1
        if len(chars) < length:
            return None
        if end < len(text) and text[end].isalnum():
            return None  # longer than an IBAN of its country: an account or reference string
        return end if iban.is_valid("".join(chars)) else None

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        raise NotImplementedError("SepaIbanRecognizer.analyze cuts candidates itself")


class NlBsnRecognizer(IdRecognizer):
    """Burgerservicenummer, 9 digits ("123456782", "1234.56.782", "1234-56-782"), 11-proof.

    9.1 % of random 9-digit numbers pass the 11-proof: a label is required.
    """

    ENTITIES = (e.NL_BSN,)
    PATTERN = re.compile(r"\d" + NUMBER_START + r"\d{3}(?P<s>[ .-]?)\d{2}(?P=s)\d{3}" + NUMBER_END)
    LABELS = labels({e.NL_BSN: _BSN_WORDS, NOT_AN_ID: NEGATIVE_WORDS})

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        if not bsn.is_valid(match.group()):
            return None
        if self.nearest_label(text, match.start(), match.end()) != e.NL_BSN:
            return None
        return Verdict(e.NL_BSN, CHECKED)


def _plausible_ddmmyy(digits: str) -> bool:
    return 1 <= int(digits[:2]) <= 31 and 1 <= int(digits[2:4]) <= 12


class AtSvnrRecognizer(IdRecognizer):
    """Austrian Sozialversicherungsnummer: serial (3), check digit, birth date DDMMYY;
    "1237 010180", "1237-010180" or "1237010180".

    The check digit alone passes 8.2 % of random 10-digit numbers; with a plausible birth
    date 0.30 %. So: next to a label ("SVNR", "Versicherungsnummer", "e-card") the check digit
    suffices, as in python-stdnum, which does not check the date; without one, the date must
    be plausible too.
    """

    ENTITIES = (e.AT_SVNR,)
    PATTERN = re.compile(r"[1-9]" + NUMBER_START + r"\d{3}[ \u00a0-]?\d{6}" + NUMBER_END)
    LABELS = labels({e.AT_SVNR: _SVNR_WORDS, NOT_AN_ID: NEGATIVE_WORDS + "|" + TAX_NUMBER_WORDS})

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        number = vnr.compact(match.group().replace("-", ""))
        if not vnr.is_valid(number):
            return None
        label = self.nearest_label(text, match.start(), match.end())
        if label == NOT_AN_ID or (label is None and not _plausible_ddmmyy(number[4:])):
            return None
        return Verdict(e.AT_SVNR, CHECKED)


class FrNirRecognizer(IdRecognizer):
    """French NIR (numéro de sécurité sociale), 13 characters and a 2-digit mod-97 key,
    "2 84 05 88 123 456 78", with dashes or compact; Corsica "2A"/"2B".

    The key passes 1 % of random 15-digit numbers; without a label a calendar month (01-12)
    is required as well, which leaves 0.04 % (measured, sentences of random 15-digit numbers).
    """

    ENTITIES = (e.FR_NIR,)
    PATTERN = re.compile(
        r"[1-478]"
        + NUMBER_START
        + r"(?P<s>[ -]?)\d{2}(?P=s)\d{2}(?P=s)(?:\d{2}|2[AB])(?P=s)\d{3}(?P=s)\d{3}[ -]?\d{2}"
        + NUMBER_END,
        re.I,
    )
    LABELS = labels({e.FR_NIR: _NIR_WORDS, NOT_AN_ID: NEGATIVE_WORDS})

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        number = nir.compact(match.group().replace("-", ""))
        if not nir.is_valid(number):
            return None
        label = self.nearest_label(text, match.start(), match.end())
        if label == NOT_AN_ID or (label is None and not 1 <= int(number[3:5]) <= 12):
            return None
        return Verdict(e.FR_NIR, CHECKED)


class CodiceFiscaleRecognizer(IdRecognizer):
    """Codice fiscale of a person: 16 characters, "RSSMRA85T10A562S"; check letter and date.

    At least one digit is required, so that no 16-letter word is ever validated; this gives
    up only codes with all seven digits replaced (omocodia), which almost never occur.
    """

    ENTITIES = (e.IT_FISCAL_CODE,)
    PATTERN = re.compile(
        r"\b[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z]"
        r"[0-9LMNPQRSTUV]{3}[A-Z](?![A-Za-z0-9])",
        re.I,
    )

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        code = match.group().upper()
        if not any(c.isdigit() for c in code) or not codicefiscale.is_valid(code):
            return None
        return Verdict(e.IT_FISCAL_CODE, CHECKED)


class EsDniRecognizer(IdRecognizer):
    """Spanish DNI (and NIF of a person): 8 digits and a check letter, "12345678Z".

    The letter passes 1 in 23 strings of the shape (3.8 % measured): a label is required.
    """

    ENTITIES = (e.ES_DNI,)
    PATTERN = re.compile(r"\d" + NUMBER_START + r"\d{7}[- ]?[A-Za-z](?!\w)")
    LABELS = labels({e.ES_DNI: _DNI_WORDS, NOT_AN_ID: NEGATIVE_WORDS})

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        if not dni.is_valid(match.group()):
            return None
        if self.nearest_label(text, match.start(), match.end()) != e.ES_DNI:
            return None
        return Verdict(e.ES_DNI, CHECKED)


class SpanishNieRecognizer(IdRecognizer):
    """Spanish NIE (foreigners): X, Y or Z, 7 digits, check letter, "X1234567L".

    The letter-digits-letter shape is itself distinctive: no label needed, but the labels of
    look-alikes (order, ticket, ...) veto.
    """

    ENTITIES = (e.ES_NIE,)
    PATTERN = re.compile(r"[XYZxyz]" + WORD_START + r"[- ]?\d{7}[- ]?[A-Za-z](?!\w)")
    LABELS = labels({NOT_AN_ID: NEGATIVE_WORDS})

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        if not nie.is_valid(match.group().upper()):
            return None
        if self.nearest_label(text, match.start(), match.end()) == NOT_AN_ID:
            return None
        return Verdict(e.ES_NIE, CHECKED)


class PeselRecognizer(IdRecognizer):
    """Polish PESEL: 11 digits with the birth date and a check digit.

    1.9 % of random 11-digit numbers pass, and 11 digits are also the Steuer-ID's shape: only
    a "PESEL" label nearer than any Steuer-ID label makes a PESEL (without one, a number that
    is both goes to ``SteuerIdRecognizer``).
    """

    ENTITIES = (e.PL_PESEL,)
    PATTERN = re.compile(r"\d" + NUMBER_START + r"\d{10}" + NUMBER_END)
    LABELS = labels({e.PL_PESEL: PESEL_WORDS, e.DE_TAX_ID: TAX_ID_WORDS, NOT_AN_ID: NEGATIVE_WORDS})

    def judge(self, text: str, match: re.Match[str]) -> Verdict | None:
        if not pesel.is_valid(match.group()):
            return None
        if self.nearest_label(text, match.start(), match.end()) != e.PL_PESEL:
            return None
        return Verdict(e.PL_PESEL, CHECKED)


def recognizers() -> list[EntityRecognizer]:
    """Fresh instances of the EU identifier recognizers."""
    return [
        SepaIbanRecognizer(),
        NlBsnRecognizer(),
        AtSvnrRecognizer(),
        FrNirRecognizer(),
        CodiceFiscaleRecognizer(),
        EsDniRecognizer(),
        SpanishNieRecognizer(),
        PeselRecognizer(),
    ]
