"""Check digits that python-stdnum lacks: German social-insurance numbers and ICAO 9303.

Pure functions over strings. Each ``*_valid`` accepts the number with or without spaces or
dashes and in either case, and answers False (never raises) for anything of the wrong shape; the
``*_check_digit`` functions raise ``ValueError`` on a malformed body, because a caller that
computes a check digit (a test data generator) should hear about its own mistake.

* Rentenversicherungsnummer (pension insurance number, "Versicherungsnummer"): area (2
  digits), birth date DDMMYY, initial of the birth name, serial (2 digits), check digit. The
  letter becomes its 2-digit alphabet position, the 12 digits are weighted 2,1,2,5,7,1,2,1,2,1,
  2,1, the digit sums of the products are added, mod 10.
* Krankenversichertennummer (statutory health insurance, on the eGK): a letter and 9 digits;
  letter to its 2-digit position, weights 1,2 alternating over those 2 + first 8 digits, digit
  sums added, mod 10 is the 9th digit.
* ICAO 9303 (machine-readable zone of passports and ID cards): weights 7,3,1 repeating;
  digits count as themselves, letters A=10 .. Z=35, the filler ``<`` as 0; sum mod 10.
"""

from __future__ import annotations

import re

_PENSION_WEIGHTS = (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1)
_PENSION_BODY = re.compile(r"[0-9]{8}[A-Z][0-9]{2}")
_PENSION = re.compile(r"[0-9]{8}[A-Z][0-9]{3}")
# Bereichsnummern of the pension insurance carriers (regional carriers 02-29, 38-40 for
# Knappschaft-Bahn-See and seafarers, 42-79 Deutsche Rentenversicherung Bund, 80-82 and 89
# Knappschaft-Bahn-See). The same list python-stdnum's JavaScript port checks.
_PENSION_AREAS = frozenset(
    f"{n:02d}"
    for n in (
        *(2, 3, 4),
        *range(8, 22),
        *(23, 24, 25, 26, 28, 29, 38, 39, 40),
        *range(42, 80),
        *(80, 81, 82, 89),
    )
)
_HEALTH_BODY = re.compile(r"[A-Z][0-9]{8}")
_HEALTH = re.compile(r"[A-Z][0-9]{9}")
_ICAO = re.compile(r"[0-9A-Z<]+")
_ICAO_WEIGHTS = (7, 3, 1)


def _compact(s: str) -> str:
    return s.replace(" ", "").replace("\u00a0", "").replace("-", "").upper()


def _digit_sum(n: int) -> int:
    """Digit sum of a product of two digits (0..81): at most two digits."""
    return n // 10 + n % 10


def _letter_position(letter: str) -> str:
    """A -> "01" .. Z -> "26": how both German social-insurance numbers encode a letter."""
    return f"{ord(letter) - ord('A') + 1:02d}"


def pension_number_check_digit(body: str) -> int:
    """Check digit of the first 11 characters of a Rentenversicherungsnummer."""
    body = _compact(body)
    if not _PENSION_BODY.fullmatch(body):
        raise ValueError(f"not a pension number body (8 digits, letter, 2 digits): {body!r}")
    digits = body[:8] + _letter_position(body[8]) + body[9:]
    return sum(_digit_sum(int(d) * w) for d, w in zip(digits, _PENSION_WEIGHTS, strict=True)) % 10


def pension_number_valid(s: str) -> bool:
    """Shape, carrier area, birth month and check digit of a Rentenversicherungsnummer.

    Only the month of the date is checked (as python-stdnum's JavaScript port does): the day is
    left lenient so that numbers assigned with a substitute day are not lost.
    """
    s = _compact(s)
    if not _PENSION.fullmatch(s) or s[:2] not in _PENSION_AREAS:
        return False
    if not 1 <= int(s[4:6]) <= 12:
        return False
    return pension_number_check_digit(s[:11]) == int(s[11])


def health_insurance_number_check_digit(body: str) -> int:
    """Check digit of the first 9 characters (letter + 8 digits) of a Krankenversichertennummer."""
    body = _compact(body)
    if not _HEALTH_BODY.fullmatch(body):
        raise ValueError(f"not a health insurance number body (letter, 8 digits): {body!r}")
    digits = _letter_position(body[0]) + body[1:]
    return sum(_digit_sum(int(d) * (1 + i % 2)) for i, d in enumerate(digits)) % 10


def health_insurance_number_valid(s: str) -> bool:
    """Shape and check digit of the 10-character Krankenversichertennummer."""
    s = _compact(s)
    if not _HEALTH.fullmatch(s):
        return False
    return health_insurance_number_check_digit(s[:9]) == int(s[9])


def _icao_value(c: str) -> int:
    if c.isdigit():
        return int(c)
    if c == "<":
        return 0
    return ord(c) - ord("A") + 10


def icao_check_digit(s: str) -> int:
    """ICAO 9303 check digit (weights 7,3,1) of an MRZ field: digits, A-Z, and ``<``."""
    s = s.upper()
    if not _ICAO.fullmatch(s):
        raise ValueError(f"not an MRZ field (digits, A-Z, '<'): {s!r}")
    return sum(_icao_value(c) * _ICAO_WEIGHTS[i % 3] for i, c in enumerate(s)) % 10


def mrz_document_number_valid(s: str) -> bool:
    """A document number followed by its ICAO 9303 check digit, as in the MRZ.

    German ID cards and passports print the 9-character number alone; the 10th character
    (the check digit) appears only in the machine-readable zone.
    """
    s = _compact(s)
    if len(s) < 2 or not s[-1].isdigit() or not _ICAO.fullmatch(s):
        return False
    return icao_check_digit(s[:-1]) == int(s[-1])
