"""Valid and invalid identifiers for the PII evaluation set, and the checkers that judge them.

Independent of the implementation under test on purpose: nothing here imports ``policies``
beyond its entity names. Check digits come from python-stdnum where it has them; the
Rentenversicherungsnummer, the Krankenversichertennummer and the ICAO 7-3-1 check digit of
document numbers are implemented here from their published rules (see PII_NOTES.md).

Every generator takes a seeded ``random.Random`` and returns the identifier as it is printed
in the text (separators included). ``validating_types`` says which checkers accept a string:
the generator uses it to keep gold identifiers unambiguous and look-alikes invalid for every
type, and the dataset test uses it to check the committed labels.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable
from random import Random

import phonenumbers
from stdnum import iban, luhn
from stdnum.at import vnr
from stdnum.de import idnr, stnr, vat
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.iso7064 import mod_11_10
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pl import pesel

from policies import entities as E

DIGITS = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Characters of German ID card and passport numbers (no vowels, no B, D, Q, S: ICAO 9303).
DOC_ALPHABET = "0123456789CFGHJKLMNPRTVWXYZ"


def _digits(rng: Random, n: int, *, first_nonzero: bool = False) -> str:
    head = rng.choice(DIGITS[1:]) if first_nonzero else rng.choice(DIGITS)
    return head + "".join(rng.choice(DIGITS) for _ in range(n - 1))


def birth_date(rng: Random, first: int = 1945, last: int = 2004) -> datetime.date:
    start = datetime.date(first, 1, 1).toordinal()
    return datetime.date.fromordinal(rng.randint(start, datetime.date(last, 12, 31).toordinal()))


def compact(text: str) -> str:
    return re.sub(r"[\s./-]", "", text).upper()


def _letter_pos(letter: str) -> str:
    return f"{UPPER.index(letter.upper()) + 1:02d}"


def _digit_sum(n: int) -> int:
    return n // 10 + n % 10


# ---- check digits python-stdnum does not have ---------------------------------------------
def rvnr_check_digit(body: str) -> str:
    """Rentenversicherungsnummer: area(2) DDMMYY(6) letter(1) serial(2) -> check digit."""
    digits = body[:8] + _letter_pos(body[8]) + body[9:11]
    weights = (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1)
    return str(sum(_digit_sum(int(d) * w) for d, w in zip(digits, weights, strict=True)) % 10)


def kvnr_check_digit(body: str) -> str:
    """Krankenversichertennummer: letter + 8 digits -> check digit (weights 1,2,1,2,...)."""
    digits = _letter_pos(body[0]) + body[1:9]
    return str(sum(_digit_sum(int(d) * (1 + i % 2)) for i, d in enumerate(digits)) % 10)


def icao_check_digit(chars: str) -> str:
    """ICAO 9303 check digit: weights 7,3,1 over digit values (A=10 ... Z=35, '<'=0)."""
    values = [0 if c == "<" else (int(c) if c.isdigit() else UPPER.index(c) + 10) for c in chars]
    return str(sum(v * (7, 3, 1)[i % 3] for i, v in enumerate(values)) % 10)


def is_valid_rvnr(text: str) -> bool:
    c = compact(text)
    return bool(re.fullmatch(r"\d{8}[A-Z]\d{3}", c)) and rvnr_check_digit(c[:11]) == c[11]


def is_valid_kvnr(text: str) -> bool:
    c = compact(text)
    return bool(re.fullmatch(r"[A-Z]\d{9}", c)) and kvnr_check_digit(c[:9]) == c[9]


def is_valid_doc_number(text: str) -> bool:
    """Printed 9-character number (no check digit) or the 10-character MRZ form (7-3-1)."""
    c = text.upper()
    if len(c) not in (9, 10) or c[0] not in DOC_ALPHABET[10:] or not any(ch in DIGITS for ch in c):
        return False
    if any(ch not in DOC_ALPHABET for ch in c[:9]):
        return False
    return len(c) == 9 or icao_check_digit(c[:9]) == c[9]


# District codes (Unterscheidungszeichen) used by the plate generator; a small real subset.
DISTRICTS = ("A", "B", "BN", "D", "DO", "DD", "E", "EF", "F", "FFB", "FR", "GÖ", "H", "HB", "HD",
             "HH", "HRO", "J", "K", "KA", "KI", "KN", "L", "LB", "LU", "M", "MA", "MS", "MZ", "N",
             "OF", "OS", "R", "RO", "S", "SB", "TÜ", "UL", "WI", "WÜ", "AC", "BI", "BS", "DA",
             "DU", "GE", "HA", "HN", "KS", "MD", "MG", "PB", "PF", "RT", "WOB")  # fmt: skip
_PLATE = re.compile(r"([A-ZÄÖÜ]{1,3})[- ]([A-Z]{1,2}) ?([1-9]\d{0,3})[EH]?")


def is_valid_plate(text: str) -> bool:
    m = _PLATE.fullmatch(text)
    return m is not None and m.group(1) in DISTRICTS and len("".join(m.groups())) <= 8


def is_valid_phone(text: str) -> bool:
    """Valid in the numbering plan; digits only (phonenumbers would read "P3X38GKJR" as a
    vanity number)."""
    if not re.fullmatch(r"[+\d()/ .-]+", text):
        return False
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(text, "DE")))
    except phonenumbers.NumberParseException:
        return False


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _digits_of_len(*lengths: int) -> Callable[[str], bool]:
    return lambda c: c.isdigit() and len(c) in lengths


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)*\.[a-z]{2,}")

# Each checker gets the compact form (separators removed, upper case) unless noted.
_CHECKERS: dict[str, Callable[[str], bool]] = {
    E.DE_TAX_ID: lambda c: _digits_of_len(11)(c) and idnr.is_valid(c),
    E.DE_TAX_NUMBER: lambda c: _digits_of_len(10, 11, 13)(c) and stnr.is_valid(c),
    E.DE_VAT_ID: lambda c: c.startswith("DE") and vat.is_valid(c),
    E.DE_PENSION_NUMBER: is_valid_rvnr,
    E.DE_HEALTH_INSURANCE_NUMBER: is_valid_kvnr,
    E.IBAN: lambda c: c[:2].isalpha() and iban.is_valid(c),
    E.NL_BSN: lambda c: _digits_of_len(9)(c) and bsn.is_valid(c),
    E.AT_SVNR: lambda c: _digits_of_len(10)(c) and vnr.is_valid(c),
    E.FR_NIR: lambda c: len(c) == 15 and nir.is_valid(c),
    E.IT_FISCAL_CODE: lambda c: len(c) == 16 and codicefiscale.is_valid(c),
    E.ES_DNI: lambda c: len(c) == 9 and dni.is_valid(c),
    E.ES_NIE: lambda c: len(c) == 9 and nie.is_valid(c),
    E.PL_PESEL: lambda c: _digits_of_len(11)(c) and pesel.is_valid(c),
    E.CREDIT_CARD: lambda c: _digits_of_len(*range(13, 20))(c) and luhn.is_valid(c),
}
# These judge the text as printed.
_RAW_CHECKERS: dict[str, Callable[[str], bool]] = {
    E.DE_ID_CARD: is_valid_doc_number,
    E.DE_PASSPORT: is_valid_doc_number,
    E.DE_LICENSE_PLATE: is_valid_plate,
    E.PHONE_NUMBER: is_valid_phone,
    E.EMAIL_ADDRESS: lambda t: bool(_EMAIL.fullmatch(t)),
    E.IP_ADDRESS: _is_ip,
}
CHECKABLE = frozenset(_CHECKERS) | frozenset(_RAW_CHECKERS)
# A Steuernummer has no check digit python-stdnum knows (any 10- or 11-digit number has a valid
# state format) and a printed 9-character document number has none at all: neither can make
# a value ambiguous or a look-alike "valid", so ``validating_types`` leaves them out and
# judges document numbers by their 10-character MRZ form (7-3-1 check digit) only. The
# texts carry the context words that tell these apart.
FORMAT_ONLY = frozenset({E.DE_TAX_NUMBER})
DOC_TYPES = frozenset({E.DE_ID_CARD, E.DE_PASSPORT})


def validates(entity: str, text: str) -> bool:
    if entity in _RAW_CHECKERS:
        return _RAW_CHECKERS[entity](text)
    return _CHECKERS[entity](compact(text))


def validating_types(text: str) -> set[str]:
    """The types whose check (not mere format, see above) accepts ``text``."""
    found = set()
    for entity in CHECKABLE - FORMAT_ONLY:
        if entity in DOC_TYPES:
            if len(text) == 10 and is_valid_doc_number(text):
                found.add(entity)
        elif validates(entity, text):
            found.add(entity)
    return found


def other_types(entity: str, text: str) -> set[str]:
    """Types other than ``entity`` that ``text`` validates as (ID card and passport numbers
    share one format: for them the other one does not count)."""
    same = DOC_TYPES if entity in DOC_TYPES else {entity}
    return validating_types(text) - same


_NUMBERISH = re.compile(r"\d(?:\d|[ ./-](?=\d))*")


def lookalike_hits(text: str) -> set[str]:
    """Types any part of a look-alike validates as: the whole text, each run of digits (with
    separators), each token, and any phone number the numbering plan accepts inside it."""
    parts = {text, *_NUMBERISH.findall(text), *text.split()}
    hits = {t for part in parts for t in validating_types(part.strip(".,;:()#"))}
    if any(True for _ in phonenumbers.PhoneNumberMatcher(text, "DE")):
        hits.add(E.PHONE_NUMBER)
    return hits


# ---- valid identifiers, as printed ------------------------------------------------------------
def unambiguous(entity: str, make: Callable[[], str]) -> str:
    """Draw until the value validates as ``entity`` and as no other checkable type."""
    for _ in range(10_000):
        value = make()
        if validates(entity, value) and not other_types(entity, value):
            return value
    raise RuntimeError(f"no valid, unambiguous {entity} drawn: check the generator")


def _spaced(rng: Random, value: str, groups: tuple[int, ...], sep: str = " ") -> str:
    if rng.random() < 0.5:
        return value
    parts, i = [], 0
    for n in groups:
        parts.append(value[i : i + n])
        i += n
    return sep.join(parts)


def _tax_id(rng: Random) -> str:
    pool = rng.sample(DIGITS, 9)
    body = [*pool, rng.choice(pool)]
    rng.shuffle(body)
    if body[0] == "0":
        body.reverse()
    value = "".join(body) + mod_11_10.calc_check_digit("".join(body))
    return _spaced(rng, value, (2, 3, 3, 3))


_STNR_FORMATS = ("FF/BBB/UUUUP", "FFF/BBB/UUUUP", "0FF/BBB/UUUUP", "FFF/BBBB/UUUP",
                 "2FF/BBB/UUUUP", "9FFF0BBBUUUUP", "28FF0BBBUUUUP", "5FFF0BBBBUUUP")  # fmt: skip


def _tax_number(rng: Random) -> str:
    fmt = rng.choice(_STNR_FORMATS)
    return "".join(rng.choice(DIGITS[1:]) if c.isalpha() else c for c in fmt)


def _vat(rng: Random) -> str:
    body = _digits(rng, 8, first_nonzero=True)
    value = body + mod_11_10.calc_check_digit(body)
    return "DE" + _spaced(rng, value, (3, 3, 3)) if rng.random() < 0.3 else "DE" + value


# Area numbers of the pension insurance carriers (Bereichsnummern) in use.
_RV_AREAS = tuple(f"{n:02d}" for n in (2, 4, 8, 9, *range(10, 30), *range(38, 83), 89) if n != 22)


def _pension(rng: Random) -> str:
    born = birth_date(rng)
    serial = f"{rng.randint(0, 49) if rng.random() < 0.5 else rng.randint(50, 99):02d}"
    body = rng.choice(_RV_AREAS) + born.strftime("%d%m%y") + rng.choice(UPPER) + serial
    value = body + rvnr_check_digit(body)
    if rng.random() < 0.5:
        return f"{value[:2]} {value[2:8]} {value[8]} {value[9:]}"
    return value


def _health_insurance(rng: Random) -> str:
    body = rng.choice(UPPER) + _digits(rng, 8, first_nonzero=True)
    return body + kvnr_check_digit(body)


_IBAN_BBAN: dict[str, Callable[[Random], str]] = {
    "DE": lambda r: _digits(r, 8, first_nonzero=True) + _digits(r, 10),
    "AT": lambda r: _digits(r, 5, first_nonzero=True) + _digits(r, 11),
    "NL": lambda r: r.choice(["ABNA", "INGB", "RABO", "SNSB", "TRIO"]) + _digits(r, 10),
    "FR": lambda r: _digits(r, 10, first_nonzero=True) + _digits(r, 13),
    "IT": lambda r: r.choice(UPPER) + _digits(r, 10) + _digits(r, 12),
    "ES": lambda r: _digits(r, 20),
    "BE": lambda r: (lambda n: n + f"{int(n) % 97 or 97:02d}")(_digits(r, 10)),
    "LU": lambda r: _digits(r, 16),
    "PL": lambda r: _digits(r, 24),
    "IE": lambda r: r.choice(["AIBK", "BOFI", "IPBS"]) + _digits(r, 14),
}
IBAN_COUNTRIES = tuple(_IBAN_BBAN)


def _iban(rng: Random, country: str) -> str:
    bban = _IBAN_BBAN[country](rng)
    value = country + iban.calc_check_digits(country + "00" + bban) + bban
    if rng.random() < 0.6:
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value


def _bsn(rng: Random) -> str:
    return _spaced(rng, _digits(rng, 9, first_nonzero=True), (4, 2, 3), ".")


def _svnr(rng: Random) -> str:
    body = _digits(rng, 3, first_nonzero=True) + "0" + birth_date(rng).strftime("%d%m%y")
    value = body[:3] + vnr.calc_check_digit(body) + body[4:]
    return value[:4] + " " + value[4:] if rng.random() < 0.6 else value


def _nir(rng: Random) -> str:
    born = birth_date(rng)
    body = (rng.choice("12") + born.strftime("%y%m") + f"{rng.randint(1, 95):02d}"
            + f"{rng.randint(1, 999):03d}" + f"{rng.randint(1, 999):03d}")  # fmt: skip
    value = body + nir.calc_check_digits(body)
    if rng.random() < 0.5:
        return " ".join((value[0], value[1:3], value[3:5], value[5:7], value[7:10],
                         value[10:13], value[13:]))  # fmt: skip
    return value


_IT_PEOPLE = (("ROSSI", "MARIO"), ("BIANCHI", "GIULIA"), ("ESPOSITO", "LUCA"),
              ("RUSSO", "FRANCESCA"), ("ROMANO", "MATTEO"), ("COLOMBO", "CHIARA"),
              ("RICCI", "ALESSANDRO"), ("MARINO", "SOFIA"), ("GRECO", "LORENZO"),
              ("CONTI", "ELENA"), ("DE LUCA", "GIORGIO"), ("FERRARI", "ANNA"))  # fmt: skip
_BELFIORE = ("H501", "F205", "F839", "L219", "G273", "D612", "A944", "L736", "A662", "C351")


def _cf_part(name: str, *, given: bool) -> str:
    letters = name.replace(" ", "")
    cons = [c for c in letters if c not in "AEIOU"]
    if given and len(cons) > 3:
        cons = [cons[0], cons[2], cons[3]]
    return ("".join(cons) + "".join(c for c in letters if c in "AEIOU") + "XXX")[:3]


def _fiscal_code(rng: Random) -> str:
    surname, given = rng.choice(_IT_PEOPLE)
    born = birth_date(rng)
    female = given.endswith("A")
    body = (_cf_part(surname, given=False) + _cf_part(given, given=True) + born.strftime("%y")
            + "ABCDEHLMPRST"[born.month - 1] + f"{born.day + (40 if female else 0):02d}"
            + rng.choice(_BELFIORE))  # fmt: skip
    return body + codicefiscale.calc_check_digit(body)


def _dni(rng: Random) -> str:
    body = _digits(rng, 8, first_nonzero=True)
    return body + ("-" if rng.random() < 0.3 else "") + dni.calc_check_digit(body)


def _nie(rng: Random) -> str:
    body = rng.choice("XYZ") + _digits(rng, 7)
    sep = "-" if rng.random() < 0.3 else ""
    return body[0] + sep + body[1:] + sep + nie.calc_check_digit(body)


def _pesel(rng: Random) -> str:
    born = birth_date(rng)
    month = born.month + (20 if born.year >= 2000 else 0)
    body = f"{born:%y}{month:02d}{born:%d}" + _digits(rng, 4)
    return body + pesel.calc_check_digit(body)


def _credit_card(rng: Random) -> str:
    kind = rng.choice(("visa", "visa", "mc", "mc", "amex"))
    if kind == "amex":
        body = "3" + rng.choice("47") + _digits(rng, 12)
        value = body + luhn.calc_check_digit(body)
        return _spaced(rng, value, (4, 6, 5))
    if kind == "visa":
        body = "4" + _digits(rng, 14)
    else:
        body = "5" + rng.choice("12345") + _digits(rng, 13)
    value = body + luhn.calc_check_digit(body)
    sep = rng.choice((" ", " ", "-"))
    return _spaced(rng, value, (4, 4, 4, 4), sep)


def doc_number(rng: Random, *, passport: bool, mrz: bool) -> str:
    """A German ID card or passport number: printed (9 characters) or as in the MRZ (10)."""
    entity = E.DE_PASSPORT if passport else E.DE_ID_CARD
    return unambiguous(entity, lambda: _doc_number(rng, passport=passport, mrz=mrz))


def _doc_number(rng: Random, *, passport: bool, mrz: bool) -> str:
    first = rng.choice("CFGHJK" if passport else "LMNPRTVWXY")
    body = first + "".join(rng.choice(DOC_ALPHABET) for _ in range(8))
    if not any(c in DIGITS for c in body):
        body = body[:-1] + rng.choice(DIGITS)
    return body + icao_check_digit(body) if mrz else body


def plate(rng: Random) -> str:
    district = rng.choice(DISTRICTS)
    letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(rng.randint(1, 2)))
    room = 8 - len(district) - len(letters)
    number = str(rng.randint(1, 10 ** min(4, room) - 1))
    suffix = rng.choice(("", "", "", "", "E", "H"))
    return f"{district}{rng.choice('- ')}{letters} {number}{suffix}"


VALID: dict[str, Callable[[Random], str]] = {
    E.DE_TAX_ID: _tax_id,
    E.DE_TAX_NUMBER: _tax_number,
    E.DE_VAT_ID: _vat,
    E.DE_PENSION_NUMBER: _pension,
    E.DE_HEALTH_INSURANCE_NUMBER: _health_insurance,
    E.NL_BSN: lambda r: unambiguous(E.NL_BSN, lambda: _bsn(r)),
    E.AT_SVNR: _svnr,
    E.FR_NIR: _nir,
    E.IT_FISCAL_CODE: _fiscal_code,
    E.ES_DNI: _dni,
    E.ES_NIE: _nie,
    E.PL_PESEL: _pesel,
    E.CREDIT_CARD: _credit_card,
    E.DE_LICENSE_PLATE: plate,
}


def valid(rng: Random, entity: str, *, country: str = "DE") -> str:
    """A valid, unambiguous identifier of ``entity`` as printed (IBAN of ``country``)."""
    if entity == E.IBAN:
        return unambiguous(entity, lambda: _iban(rng, country))
    return unambiguous(entity, lambda: VALID[entity](rng))


# Where the check character sits in the compact value (negative: from the end).
_CHECK_POS = {E.IBAN: 3, E.AT_SVNR: 3}


def invalid(rng: Random, entity: str, *, country: str = "DE") -> str:
    """The same shape as a valid ``entity`` with a wrong check character, valid as nothing."""
    for _ in range(10_000):
        value = valid(rng, entity, country=country)
        pos = _CHECK_POS.get(entity, -1)
        idx = [i for i, c in enumerate(value) if c.isalnum()][pos]
        old = value[idx]
        new = rng.choice([c for c in (DIGITS if old.isdigit() else UPPER) if c != old])
        wrong = value[:idx] + new + value[idx + 1 :]
        if not validates(entity, wrong) and not lookalike_hits(wrong):
            return wrong
    raise RuntimeError(f"no invalid {entity} drawn: check the generator")


# ---- phone numbers and IP addresses -----------------------------------------------------------
_MOBILE = ("151", "152", "157", "159", "160", "162", "163", "170", "171", "172", "173", "175",
           "176", "177", "178", "179")  # fmt: skip
_AREAS = ("30", "40", "69", "89", "221", "211", "711", "341", "351", "911", "201", "231", "511",
          "421", "621", "761", "228", "6131", "5141", "8031", "4321", "3641")  # fmt: skip
# German formats seen in contact-centre and public-sector text; {a}=area code without the
# leading 0, {s}=subscriber number.
DE_PHONE_STYLES = (
    "+49 {a} {s}",
    "0{a} {s}",
    "0{a}/{s}",
    "(0{a}) {s}",
    "0{a}-{s}",
    "+49 (0){a} {s4}-{s2}",
    "+49{a}{s}",
    "0049 {a} {s}",
    "0{a} {sg}",
    "0{a} {s4}-{s2}",
    "+49 {a} {sg}",
)
# Foreign numbers: a country prefix and a national pattern of digits (#) that the numbering
# plan accepts; drawn until phonenumbers says the number is valid.
FOREIGN_PHONE_STYLES = (
    "+43 1 ### ## ##", "+43 664 #######", "+31 20 ### ####", "+31 6 ########",
    "+33 1 ## ## ## ##", "+33 6 ## ## ## ##", "+39 06 #### ####", "+39 347 ### ####",
    "+34 91# ### ###", "+34 6## ### ###", "+48 22 ### ## ##", "+48 5## ### ###",
    "+44 20 7946 0###", "+44 7911 ######", "+41 44 ### ## ##", "+1 212-555-####",
    "+353 1 ### ####", "+90 532 ### ## ##",
)  # fmt: skip


def _group(s: str) -> str:
    return s[:3] + " " + s[3:] if len(s) < 7 else s[:-4] + " " + s[-4:]


def de_phone(rng: Random, style: str, *, mobile: bool) -> str:
    """A valid German number in ``style``; extensions (``-{s2}``) only for landlines."""
    mobile = mobile and "{s2}" not in style

    def make() -> str:
        area = rng.choice(_MOBILE if mobile else _AREAS)
        sub = _digits(rng, rng.choice((10, 11)) - len(area), first_nonzero=True)
        return style.format(a=area, s=sub, s4=sub[:-2], s2=sub[-2:], sg=_group(sub))

    return unambiguous(E.PHONE_NUMBER, make)


def foreign_phone(rng: Random, style: str) -> str:
    return unambiguous(
        E.PHONE_NUMBER, lambda: "".join(rng.choice(DIGITS) if c == "#" else c for c in style)
    )


def ip_address(rng: Random) -> str:
    kind = rng.random()
    if kind < 0.2:
        return f"192.168.178.{rng.randint(2, 254)}"  # a FRITZ!Box home network
    if kind < 0.35:
        groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(3)]
        return f"2a02:810d:{':'.join(groups)}::{rng.randint(1, 0xFFFF):x}"
    first = rng.choice((46, 79, 80, 84, 87, 91, 93, 95, 176, 178, 185, 188, 212, 217))
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
