"""Contact and technical identifiers: phone numbers, e-mail addresses, payment cards, IPs.

Presidio's stock recognizers are not used here: its phone recognizer runs the phonenumbers
matcher over the whole text (about 50 ms on 4,000 dense characters) and its e-mail recognizer
calls tldextract, which tries the network. Each recognizer below finds cheap candidates with
one precompiled regex and validates only those. Context is checked inside the recognizer
(a window of characters on both sides), so results do not depend on the NLP pipeline.
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
import ipaddress
import re
from functools import lru_cache

import phonenumbers
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from stdnum import luhn

from policies.entities import CREDIT_CARD, EMAIL_ADDRESS, IP_ADDRESS, PHONE_NUMBER
from policies.recognizers.base import result

STRONG = 0.9  # validated: the analyzer keeps >= 0.5, callers treat >= 0.85 as certain
WEAK = 0.6  # plausible, and a context word is near
WINDOW = 50  # characters of context looked at on each side


# --- phone numbers -------------------------------------------------------------------------

# A phone number starts with "+", "00", "0" or "(0"; anything else (order numbers, years,
# tax ids, postal codes without a leading zero) is never a candidate. Dots are no separator,
# so dates ("01.03.2024") and versions never become candidates. The patterns of this module
# start with a literal or a digit class and carry no look-behind, so the regex engine skips
# ahead quickly; what must not stand before a match is checked in Python (_clear_before).
_PHONE = re.compile(r"(?:\+|\(\s?0|0)[0-9][0-9 \u00a0()/-]{4,24}[0-9](?![\w@]|[.,/-]?[0-9])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){3,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
_PHONE_WORD = re.compile(
    r"(?i)(?<![^\W\d_])(?:tel|fon|phone|handy|mobil|fax|ruf|call|anruf|erreich|durchwahl"
    r"|hotline|whatsapp|signal|sms|nummer|number|zentrale|kontakt|contact)[^\W\d_]*"
)
# Labels of numbers that are not phone numbers. The nearer label before a candidate wins.
_OTHER_NUMBER_WORD = re.compile(
    r"(?i)(?<![^\W\d_])(?:bestell|auftrag|kunden|rechnung|vertrag|vorgang|ticket|akten"
    r"|kassenzeichen|mitglied|versicherten|versicherungs|personal|steuer|konto|order|invoice"
    r"|customer|case|referenz|reference|iban|bic|blz|plz|postleitzahl|artikel|serien|antrag"
    r"|buchung|sendung|tracking|geschäftszeichen|aktenzeichen|zähler|vertrags)[^\W\d_]*"
)
_NON_SPACE = re.compile(r"[^\s/]+(?:/[^\s/]+)*")
_NUMBER_NOUN = re.compile(r"(?i)[ -]?(?:nummer|number|nr\b|no\b)")
# Between a look-alike's label and a candidate: a number of its own, then a comma, semicolon
# or a word, so that the label belongs to that number ("Case 7496-3962, line ...").
_TAKEN_LABEL = re.compile(r"\d[^\W\d_]*[^\w]*?(?:[,;]|[^\W\d_]{2,})")
# After a context word: a number it labels ("number: 4211 ...", "Nummer lautet 0171 ...").
_LABELS_NEXT_NUMBER = re.compile(r"[^\w\n]{0,3}(?:(?:is|ist|lautet|was|war)\b[^\w\n]{0,3})?[+(]?\d")


def _clear_before(text: str, start: int, forbidden: str) -> bool:
    """Nothing glued to the candidate: no word character, no forbidden character (except a
    "." or ":" after a word, as in "Tel.:0171..."), and no "digit space" (which means the
    candidate is the tail of a longer number, such as an IBAN's groups)."""
    if start == 0:
        return True
    before = text[start - 1]
    if before in ".:" and start > 1 and (text[start - 2].isalpha() or text[start - 2] == "."):
        return True
    if before.isalnum() or before == "_" or before in forbidden:
        return False
    return not (before == " " and start > 1 and text[start - 2].isdigit())


def _digits(candidate: str) -> int:
    return sum(ch.isdigit() for ch in candidate)


@lru_cache(maxsize=4096)  # a conversation re-sends its history: the same numbers recur
def _phone_validity(candidate: str) -> float:
    """STRONG for a valid number, WEAK for a possible one, 0.0 otherwise (region DE)."""
    if not 7 <= _digits(candidate) <= 17:
        return 0.0
    try:
        number = phonenumbers.parse(candidate, "DE")
    except phonenumbers.NumberParseException:
        return 0.0
    if phonenumbers.is_valid_number(number):
        return STRONG
    return WEAK if phonenumbers.is_possible_number(number) else 0.0


def _phone_spans(text: str, start: int, end: int) -> list[tuple[int, int, float]]:
    """Numbers inside one candidate; splits "0171 2345678 / 089 123456" into two.

    A candidate that is not valid as a whole is cut at its spaces: from each group that can
    start a number, the longest run of groups that is valid wins, else the longest possible.
    """
    score = _phone_validity(text[start:end])
    groups = [(start + m.start(), start + m.end()) for m in _NON_SPACE.finditer(text[start:end])]
    if score == STRONG or len(groups) < 2:
        return [(start, end, score)] if score else []
    found: list[tuple[int, int, float]] = []
    i = 0
    while i < len(groups):
        g_start = groups[i][0]
        best: tuple[int, float] | None = None
        for j in range(len(groups), i, -1) if text[g_start] in "+0(" else ():
            s = _phone_validity(text[g_start : groups[j - 1][1]])
            if s == STRONG:
                best = (j, s)
                break
            if s and best is None:
                best = (j, s)
        if best is None:
            i += 1
            continue
        j, s = best
        found.append((g_start, groups[j - 1][1], s))
        i = j
    return found


def _in_iban(text: str, start: int) -> bool:
    """True when position start lies inside an IBAN (at most 34 characters long)."""
    for iban in _IBAN.finditer(text, max(0, start - 50), min(len(text), start + 50)):
        if iban.start() <= start < iban.end():
            return True
    return False


def _label_end(text: str, pos: int, limit: int) -> int:
    """The end of a label that ends at ``pos`` or runs on in a separate number noun: in
    "customer number" or "Vertrags-Nr." the noun belongs to the label, it is no phone word."""
    noun = _NUMBER_NOUN.match(text, pos, limit)
    return pos if noun is None else noun.end()


def _label_says_other(text: str, start: int) -> bool:
    """True when the nearest label before the number names a non-phone number.

    A label names the first number after it only: in "Case 7496-3962, line +39 06 8082 5925"
    or "Vorgangsnummer VG-778346, Anschluss 0221 48234" the case number has taken the label,
    so the phone number after the comma is free. A number still counts as taken when only
    spaces or a slash follow it ("Kunden-Nr. 12345 / 0171 2345678" may be one number).
    """
    lo = max(0, start - 40)
    other = [_label_end(text, m.end(), start) for m in _OTHER_NUMBER_WORD.finditer(text, lo, start)]
    if not other:
        return False
    phone = [m.end() for m in _PHONE_WORD.finditer(text, lo, start)]
    if phone and max(phone) > max(other):
        return False
    return _TAKEN_LABEL.search(text, max(other), start) is None


def _near(text: str, start: int, end: int, words: re.Pattern[str]) -> bool:
    """A context word within ``WINDOW`` before the number, or after it and not the label of
    a next number ("... 0324 0668847. Pension insurance number 4211 ..." is no context)."""
    if words.search(text, max(0, start - WINDOW), start):
        return True
    for word in words.finditer(text, end, min(len(text), end + WINDOW)):
        if _LABELS_NEXT_NUMBER.match(text, word.end()) is None:
            return True
    return False


class PhoneNumberRecognizer(EntityRecognizer):
    """German and international phone numbers, validated with phonenumbers (region DE)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[PHONE_NUMBER], supported_language="de")

    def load(self) -> None:
        """Nothing to load: the patterns are module constants."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if PHONE_NUMBER not in entities:
            return []
        results = []
        for match in _PHONE.finditer(text):
            if not _clear_before(text, match.start(), "+@/.,:-"):  # "Tel.:0171" passes
                continue
            for start, end, score in _phone_spans(text, *match.span()):
                if _in_iban(text, start) or _label_says_other(text, start):
                    continue
                if score < STRONG and not _near(text, start, end, _PHONE_WORD):
                    continue
                why = "valid phone number" if score == STRONG else "possible number + context"
                results.append(result(self, PHONE_NUMBER, start, end, score, why))
        return results


# --- e-mail addresses ----------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])"
    r"[\w%+-]+(?:\.[\w%+-]+)*"  # local part, no leading/trailing/double dots
    r"@"
    r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+"  # domain labels
    r"([^\W\d_]{2,24})"  # top-level domain: letters only
    r"(?![\w-]|\.[^\W_])"
)


class EmailAddressRecognizer(EntityRecognizer):
    """E-mail addresses: one regex plus a structural check; no public-suffix lookup."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[EMAIL_ADDRESS], supported_language="de")

    def load(self) -> None:
        """Nothing to load: the pattern is a module constant."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if EMAIL_ADDRESS not in entities or "@" not in text:
            return []
        results = []
        at = text.find("@")
        while at >= 0:
            # Only a window around each "@" is searched: a local part has at most 64
            # characters, an address at most 254.
            lo, hi = max(0, at - 64), min(len(text), at + 256)
            match = next((m for m in _EMAIL.finditer(text, lo, hi) if m.end() > at), None)
            if match is not None and match.start() <= at:
                results.append(result(self, EMAIL_ADDRESS, *match.span(), 0.95, "e-mail"))
                at = text.find("@", match.end())
            else:
                at = text.find("@", at + 1)
        return results


# --- payment cards -------------------------------------------------------------------------

# A cheap scan for digit runs, then the exact pattern at the start of each run.
_DIGIT_RUN = re.compile(r"[0-9][0-9 -]{11,40}[0-9]")
_CARD = re.compile(r"[0-9](?:[ -]?[0-9]){12,18}(?![\w/-]|[.,][0-9]| [0-9](?![0-9]?/))")

# (prefix range low, high, number of prefix digits, allowed lengths) per issuer.
_ISSUERS: tuple[tuple[int, int, int, frozenset[int]], ...] = (
    (4, 4, 1, frozenset({13, 16, 19})),  # Visa
    (51, 55, 2, frozenset({16})),  # Mastercard
    (2221, 2720, 4, frozenset({16})),  # Mastercard 2-series
    (34, 34, 2, frozenset({15})),  # American Express
    (37, 37, 2, frozenset({15})),
    (300, 305, 3, frozenset({14, 16, 17, 18, 19})),  # Diners Club
    (36, 36, 2, frozenset({14, 16, 17, 18, 19})),
    (38, 39, 2, frozenset({14, 16, 17, 18, 19})),
    (6011, 6011, 4, frozenset({16, 17, 18, 19})),  # Discover
    (644, 649, 3, frozenset({16, 17, 18, 19})),
    (65, 65, 2, frozenset({16, 17, 18, 19})),
    (3528, 3589, 4, frozenset({16, 17, 18, 19})),  # JCB
    (62, 62, 2, frozenset({16, 17, 18, 19})),  # UnionPay
    (2200, 2204, 4, frozenset({16, 17, 18, 19})),  # Mir
    (50, 50, 2, frozenset(range(13, 20))),  # Maestro
    (56, 58, 2, frozenset(range(13, 20))),
    (639, 639, 3, frozenset(range(13, 20))),
    (67, 67, 2, frozenset(range(13, 20))),
)


def _usual_grouping(candidate: str) -> bool:
    """Contiguous digits, groups of four (the last 1-4), or Amex/Diners 4-6-5 / 4-6-4."""
    separators = {ch for ch in candidate if not ch.isdigit()}
    if len(separators) > 1:
        return False
    if not separators:
        return True
    lengths = [len(g) for g in candidate.split(separators.pop())]
    if lengths in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4


def is_card_number(candidate: str) -> bool:
    """Usual grouping, an issuer's prefix and length, and a valid Luhn check digit."""
    if not _usual_grouping(candidate):
        return False
    digits = "".join(ch for ch in candidate if ch.isdigit())
    issuer_ok = any(
        low <= int(digits[:width]) <= high and len(digits) in lengths
        for low, high, width, lengths in _ISSUERS
    )
    return issuer_ok and luhn.is_valid(digits)


class CreditCardNumberRecognizer(EntityRecognizer):
    """Payment card numbers (13-19 digits) with an issuer prefix and a Luhn check digit."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[CREDIT_CARD], supported_language="de")

    def load(self) -> None:
        """Nothing to load: the pattern is a module constant."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if CREDIT_CARD not in entities:
            return []
        results = []
        for run in _DIGIT_RUN.finditer(text):
            if not _clear_before(text, run.start(), "+/.,-"):
                continue
            card = _CARD.match(text, run.start())
            if card is not None and is_card_number(card.group(0)):
                results.append(result(self, CREDIT_CARD, *card.span(), 0.95, "issuer + Luhn"))
        return results


# --- IP addresses --------------------------------------------------------------------------

# Not part of a longer dotted number ("1.2.3.4.5", a version) on either side.
_IPV4 = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?!\w|\.[0-9])")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}|:)(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}(?![\w:])"
)
_VERSION_BEFORE = re.compile(r"(?i)(?:version|vers\.|ver\.|build|release|firmware)\s*$")


class IpAddressRecognizer(EntityRecognizer):
    """IPv4 and IPv6 addresses; candidates are validated with the ipaddress module."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[IP_ADDRESS], supported_language="de")

    def load(self) -> None:
        """Nothing to load: the patterns are module constants."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if IP_ADDRESS not in entities:
            return []
        found = [(*span, "IPv6 address") for span in _ipv6_spans(text)]
        for start, end in _ipv4_spans(text):
            if not any(s <= start < e for s, e, _ in found):  # not the tail of "::ffff:1.2.3.4"
                found.append((start, end, "IPv4 address"))
        return [result(self, IP_ADDRESS, s, e, STRONG, why) for s, e, why in sorted(found)]


def _ipv4_spans(text: str) -> list[tuple[int, int]]:
    if "." not in text:
        return []
    found = []
    for m in _IPV4.finditer(text):
        if m.start() and (text[m.start() - 1].isalnum() or text[m.start() - 1] in "_."):
            continue
        if _VERSION_BEFORE.search(text, max(0, m.start() - 12), m.start()):
            continue
        try:
            ipaddress.IPv4Address(m.group(0))
        except ValueError:
            continue
        found.append(m.span())
    return found


def _ipv6_spans(text: str) -> list[tuple[int, int]]:
    if "::" not in text and text.count(":") < 7:
        return []
    found = []
    for m in _IPV6.finditer(text):
        if not any(ch.isdigit() for ch in m.group(0)):
            continue
        try:
            ipaddress.IPv6Address(m.group(0))
        except ValueError:
            continue
        found.append(m.span())
    return found


def recognizers() -> list[EntityRecognizer]:
    """Fresh instances of this module's recognizers."""
    return [
        PhoneNumberRecognizer(),
        EmailAddressRecognizer(),
        CreditCardNumberRecognizer(),
        IpAddressRecognizer(),
    ]
