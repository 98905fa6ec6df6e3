"""Generate the labelled German/English PII evaluation set: ``python -m tests.pii_eval.generate``.

Deterministic (fixed seed): the dataset test regenerates it and compares with the committed
``dataset.jsonl``. Independent of the implementation under test: it imports only the entity
names from ``policies``; identifiers are computed with python-stdnum and ``identifiers.py``.

Texts come from the templates at the end of this module (German and English, contact centre
and public sector, about 180 sentences and short messages) with two kinds of holes:

- ``{slot}``: a value drawn per use (names, identifiers, phone numbers, look-alike numbers...);
  format variants cycle so every format appears (see ``Filler``).
- ``[[text|LABEL]]``: literal text with a label: an entity type (upper case, from
  ``policies.entities``) or a look-alike kind (lower case).

Span rules (what a gold label covers):

- Identifiers, phone numbers, e-mail and IP addresses: the value as printed, separators
  included, without context words ("Steuer-ID", "IBAN", "Tel.") or surrounding punctuation.
- PERSON: given name(s) and surname; salutations and titles (Herr, Frau, Dr., Mr, Ms) stay
  outside the span. A first name alone (a signature) is a PERSON too.
- SECRET: the secret itself: the token after "Bearer ", the key after "=", a PEM private key
  from its BEGIN line to its END line inclusive.
- Special categories (GDPR Art. 9): the shortest phrase that on its own states the
  special-category fact about a person. HEALTH: the diagnosis, condition, named treatment or
  sick leave ("Diabetes", "HIV-positiv", "schwanger", "Physiotherapie", "krankgeschrieben";
  not generic words such as "Therapie", "Arzt", "Reha"). RELIGION: the faith or denomination
  word ("evangelisch", "Muslimin"), leaving a church ("Kirchenaustritt") and church tax a
  person pays. POLITICAL_OPINION, TRADE_UNION: the party, movement or union together with
  the membership word when they form one phrase ("Mitglied der SPD", "ver.di-Mitglied",
  "member of Unite"), and union dues a person pays. SEXUAL_ORIENTATION: the orientation word
  ("lesbisch", "same-sex"). ETHNIC_ORIGIN: the origin phrase with its noun ("kurdischer
  Herkunft", "Kurdish origin", "Roma"). GENETIC: the genetic test or finding ("Gentest",
  "BRCA1-Mutation"). BIOMETRIC: the biometric feature ("Fingerabdrücke", "Gesichtsbild").
  Articles, "of", verbs and the person stay outside. General mentions that say nothing about
  a person ("das Gesundheitsamt", "die Europäische Union") are not labelled; several are
  look-alikes.

Look-alikes (hard negatives) carry no gold entity; a prediction overlapping one is a false
positive on look-alikes. None of them validates as any checkable type (``lookalike_hits``);
the ``invalid_<TYPE>`` kinds have the shape of that type with a wrong check character.
"""

# German typography in the templates (en dashes, „quotes“) is deliberate: real text has it.
# ruff: noqa: RUF001

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from random import Random
from typing import Any

from policies import entities as E
from tests.pii_eval import identifiers as ids

SEED = 20240312
REPEAT = 2  # renderings of each template as a text of its own
LONG_PER_DOMAIN = 2  # ~1,000-character e-mails per language and domain
LONG_MIN_CHARS = 900
DATASET = Path(__file__).with_name("dataset.jsonl")

Segment = tuple[str, str | None]  # text, label (entity type, look-alike kind or None)
Label = dict[str, Any]

# ---- people -------------------------------------------------------------------------------------
# Names of the origins met in German contact centres and offices; (given name, female?).
GIVEN = (
    ("Thomas", False), ("Michael", False), ("Andreas", False), ("Stefan", False),
    ("Jürgen", False), ("Lukas", False), ("Jonas", False), ("Hans-Peter", False),
    ("Mehmet", False), ("Murat", False), ("Piotr", False), ("Tomasz", False),
    ("Oleksandr", False), ("Dmitri", False), ("Ahmad", False), ("Omar", False),
    ("Luca", False), ("Giorgos", False), ("Jan", False), ("James", False), ("David", False),
    ("Chinedu", False), ("Rajesh", False), ("Minh", False), ("José", False), ("Pierre", False),
    ("Anna", True), ("Julia", True), ("Sabine", True), ("Petra", True), ("Laura", True),
    ("Sophie", True), ("Anna-Lena", True), ("Marie-Luise", True), ("Ayşe", True),
    ("Elif", True), ("Zeynep", True), ("Katarzyna", True), ("Agnieszka", True), ("Olena", True),
    ("Natalia", True), ("Fatima", True), ("Amira", True), ("Giulia", True), ("Eleni", True),
    ("Emma", True), ("Sarah", True), ("Ngozi", True), ("Priya", True), ("Lan", True),
    ("Carmen", True), ("Amélie", True), ("Ingrid", True),
)  # fmt: skip
SURNAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Hoffmann", "Schäfer", "Richter", "Wolf", "Schröder", "Neumann", "Zimmermann", "Krüger",
    "Hartmann", "Brandt", "Vogel", "Y\u0131lmaz", "Kaya", "Demir", "Şahin", "Öztürk", "Nowak",
    "Kowalski", "Kovalenko", "Iwanow", "Al-Hassan", "Haddad", "Nasser", "Rossi", "Bianchi",
    "Papadopoulos", "de Vries", "van den Berg", "Smith", "O'Connor", "Okafor", "Mensah",
    "Sharma", "Patel", "Nguyen", "García López", "Dubois", "Nilsson", "von Weizsäcker",
    "Schulze-Wegener", "Große", "Jankowska",
)  # fmt: skip
MAIL_DOMAINS = ("gmx.de", "web.de", "t-online.de", "posteo.de", "gmail.com", "outlook.de",
                "yahoo.de", "icloud.com", "mailbox.org", "freenet.de", "gmx.net",
                "hotmail.com", "proton.me", "mueller-bau.de", "kanzlei-weber.de")  # fmt: skip
ORG_MAILS = ("kundenservice@stadtwerke-muenchen.de", "service@swk-koeln.de",
             "buergeramt@bezirksamt-mitte.berlin.de", "poststelle@fa-koeln-mitte.nrw.de",
             "jobcenter-dortmund.widerspruch@jobcenter-ge.de", "info@tk.de",
             "kfz-zulassung@lra-muenchen.de", "auslaenderbehoerde@stadt-leipzig.de",
             "support@cloudnative-example.io", "hilfe@telekom.de")  # fmt: skip
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "\u0131": "i", "ş": "s",
                       "é": "e", "'": "", " ": "", "ł": "l", "ś": "s", "ğ": "g"})  # fmt: skip


def mail_local(given: str, surname: str, rng: Random) -> str:
    g, s = given.lower().translate(_FOLD), surname.lower().translate(_FOLD)
    return rng.choice((f"{g}.{s}", f"{g[0]}.{s}", f"{g}{s}{rng.randint(60, 99)}", f"{s}.{g}",
                       f"{g}_{s}", f"{g[0]}{s}"))  # fmt: skip


# ---- special categories (GDPR Art. 9): phrases that fit "ich bin/habe X" sentences -----------
SPECIAL: dict[str, dict[str, tuple[str, ...]]] = {
    E.HEALTH: {
        "de": ("Diabetes Typ 2", "Asthma", "Epilepsie", "Multiple Sklerose", "Brustkrebs",
               "eine Depression", "Long Covid", "Morbus Crohn", "Rheuma", "Bluthochdruck",
               "einen Bandscheibenvorfall", "eine Angststörung", "Parkinson", "Migräne"),
        "en": ("type 2 diabetes", "asthma", "epilepsy", "multiple sclerosis", "breast cancer",
               "depression", "long COVID", "Crohn's disease", "rheumatoid arthritis",
               "high blood pressure", "a slipped disc", "an anxiety disorder", "Parkinson's",
               "migraine"),
    },
    E.RELIGION: {
        "de": ("römisch-katholisch", "evangelisch", "muslimisch", "jüdisch", "orthodox",
               "neuapostolisch", "alevitisch", "buddhistisch"),
        "en": ("Roman Catholic", "Protestant", "Muslim", "Jewish", "Orthodox Christian",
               "Hindu", "Sikh", "Buddhist"),
    },
    E.POLITICAL_OPINION: {
        "de": ("Mitglied der SPD", "CDU-Mitglied", "Mitglied bei den Grünen", "Mitglied der FDP",
               "Mitglied der Linken", "Mitglied der Freien Wähler", "Mitglied der CSU"),
        "en": ("a member of the Labour Party", "a Green Party member", "a member of the SPD",
               "a Conservative Party member", "a member of the Liberal Democrats",
               "a member of Die Linke"),
    },
    E.TRADE_UNION: {
        "de": ("Mitglied der IG Metall", "ver.di-Mitglied", "Gewerkschaftsmitglied",
               "Mitglied der GEW", "Mitglied der IG BCE", "Mitglied der EVG",
               "Mitglied der NGG"),
        "en": ("a member of ver.di", "a union member", "a member of Unite",
               "an IG Metall member", "a member of the GMB union", "a trade union member"),
    },
    E.SEXUAL_ORIENTATION: {
        "de": ("homosexuell", "schwul", "lesbisch", "bisexuell"),
        "en": ("gay", "lesbian", "bisexual", "homosexual"),
    },
    E.ETHNIC_ORIGIN: {
        "de": ("kurdischer Herkunft", "Roma", "tamilischer Abstammung", "uigurischer Herkunft",
               "Sinto", "Angehörige der Hazara"),
        "en": ("of Kurdish origin", "Roma", "of Tamil descent", "ethnically Uyghur",
               "of Hazara ethnicity", "of Sinti descent"),
    },
    E.GENETIC: {
        "de": ("eine BRCA1-Mutation", "eine genetische Veranlagung", "einen Gendefekt",
               "eine Mutation im CFTR-Gen", "ein erhöhtes genetisches Risiko"),
        "en": ("a BRCA2 mutation", "a genetic predisposition", "a gene defect",
               "a CFTR gene mutation", "an elevated genetic risk"),
    },
    E.BIOMETRIC: {
        "de": ("Fingerabdrücke", "ein Gesichtsbild", "einen Iris-Scan", "ein Stimmprofil",
               "ein biometrisches Passbild"),
        "en": ("fingerprints", "a facial scan", "an iris scan", "a voiceprint",
               "a biometric photo"),
    },
}  # fmt: skip
SPECIAL_SLOTS = {"health": E.HEALTH, "religion": E.RELIGION, "politics": E.POLITICAL_OPINION,
                 "union": E.TRADE_UNION, "orientation": E.SEXUAL_ORIENTATION,
                 "ethnic": E.ETHNIC_ORIGIN, "genetic": E.GENETIC,
                 "biometric": E.BIOMETRIC}  # fmt: skip
# A phrase may start with an article that the span rule leaves out.
_ARTICLE = re.compile(r"^(?:eine?n?|ein|an?|the|of) ")


# ---- secrets -------------------------------------------------------------------------------------
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _chars(rng: Random, n: int, alphabet: str = _ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _digits(rng: Random, n: int) -> str:
    return str(rng.randint(10 ** (n - 1), 10**n - 1))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def api_key(rng: Random, i: int) -> str:
    kinds = (
        lambda: "sk-" + _chars(rng, 48),
        lambda: "ghp_" + _chars(rng, 36),
        lambda: "sk-proj-" + _chars(rng, 56, _ALNUM + "-_"),
        lambda: "glpat-" + _chars(rng, 20, _ALNUM + "-_"),
        lambda: f"xoxb-{_digits(rng, 12)}-{_digits(rng, 13)}-{_chars(rng, 24)}",
        lambda: _chars(rng, 32, "0123456789abcdef"),
    )
    return kinds[i % len(kinds)]()


def jwt(rng: Random) -> str:
    header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    sub, iat = rng.randint(10_000, 99_999), rng.randint(1_700_000_000, 1_730_000_000)
    claims = f'{{"sub":"{sub}","iat":{iat},"exp":{iat + 3600},"scope":"api"}}'
    return f"{header}.{_b64url(claims.encode())}.{_b64url(rng.randbytes(32))}"


def pem_key(rng: Random) -> str:
    body = base64.b64encode(bytes.fromhex("30770201010420") + rng.randbytes(114)).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN EC PRIVATE KEY-----\n{lines}\n-----END EC PRIVATE KEY-----"


MONTHS = {
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
           "Oktober", "November", "Dezember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}  # fmt: skip


def date_text(rng: Random, lang: str) -> str:
    d = ids.birth_date(rng, 2023, 2025)
    month = MONTHS[lang][d.month - 1]
    if lang == "de":
        return rng.choice((f"{d:%d.%m.%Y}", f"{d:%Y-%m-%d}", f"{d.day}. {month} {d.year}",
                           f"{d:%d.%m.%y}"))  # fmt: skip
    return rng.choice((f"{d:%d/%m/%Y}", f"{d:%Y-%m-%d}", f"{d.day} {month} {d.year}",
                       f"{month} {d.day}, {d.year}"))  # fmt: skip


def birth_date_text(rng: Random, lang: str) -> str:
    d = ids.birth_date(rng)
    if lang == "de":
        return rng.choice((f"{d:%d.%m.%Y}", f"{d.day}. {MONTHS['de'][d.month - 1]} {d.year}"))
    return rng.choice((f"{d:%d/%m/%Y}", f"{d.day} {MONTHS['en'][d.month - 1]} {d.year}"))


def price_text(rng: Random, lang: str) -> str:
    euros = rng.choice((rng.randint(5, 99), rng.randint(100, 2500)))
    cents = rng.randint(0, 99)
    if lang == "de":
        de = f"{euros:,}".replace(",", ".") + f",{cents:02d}"
        return rng.choice((f"{de} €", f"EUR {de}", f"{de} Euro", f"€ {de}"))
    en = f"{euros:,}.{cents:02d}"
    return rng.choice((f"€{en}", f"EUR {en}", f"{en} euros", f"£{en}"))


CITIES = ("80331 München", "10117 Berlin", "50667 Köln", "20095 Hamburg", "70173 Stuttgart",
          "60311 Frankfurt am Main", "04109 Leipzig", "01067 Dresden", "90402 Nürnberg",
          "44135 Dortmund", "30159 Hannover", "28195 Bremen", "53111 Bonn", "55116 Mainz",
          "79098 Freiburg", "99084 Erfurt")  # fmt: skip
STREETS = ("Goethestraße", "Hauptstraße", "Bahnhofstraße", "Lindenweg", "Am Markt",
           "Kirchgasse", "Schillerplatz", "Friedrich-Ebert-Allee", "Rosenheimer Str.",
           "Ringstraße", "Talstraße", "Mozartweg")  # fmt: skip
INSURERS = ("AOK Bayern", "Techniker Krankenkasse", "Barmer", "DAK-Gesundheit", "IKK classic",
            "KKH", "HEK", "BKK firmus")  # fmt: skip
BICS = ("COBADEFFXXX", "DEUTDEDBXXX", "BYLADEM1001", "GENODEF1M01", "INGDDEFFXXX", "SSKMDEMMXXX")


# ---- look-alike values -------------------------------------------------------------------------
# Patterns: {N} N digits (first non-zero), {y} a recent year, {yy} its last two digits, {m} a
# month, {cN} N characters of the eVB/VIN alphabet. Everything else is literal.
NUMBER_PATTERNS: dict[str, tuple[str, ...]] = {
    "order_number": ("#{8}", "B-{y}-{5}", "AB{7}", "{3}-{7}-{7}"),
    "ticket_number": ("#{y}-{6}", "INC{7}", "T-{6}", "CS{8}"),
    "case_number": ("{4}-{4}", "VG-{6}", "{y}/{5}"),
    "invoice_number": ("RE-{y}-{6}", "{y}/{m}/{4}", "INV-{5}", "R{9}"),
    "customer_number": ("{9}", "KD-{7}", "{3} {3} {3}", "K{8}"),
    "contract_number": ("{10}", "VK {4} {4} {2}", "V-{8}"),
    "policy_number": ("{4}.{4}.{2}", "KH-{9}", "LV {3}/{6}"),
    "meter_number": ("1ESY{10}", "{8}", "1 APA01 {8}"),
    "aktenzeichen": ("{2} Js {4}/{yy}", "II/3-{4}/{y}", "ST/{7}/{y}"),
    "kassenzeichen": ("{1}.{4}.{6}.{1}",),
    "bg_number": ("{5}BG{7}",),
    "evb_number": ("{c7}",),
    "vin": ("WVWZZZ{c11}", "WBAZZZ{c11}", "VF1ZZZ{c11}"),
    "tracking_number": ("00340434{12}", "JJD{15}"),
}
_CODE = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def from_pattern(rng: Random, pattern: str) -> str:
    year = rng.randint(2023, 2025)

    def one(m: re.Match[str]) -> str:
        key = m.group(1)
        if key in ("y", "yy"):
            return str(year)[-len(key) * 2 :] if key == "yy" else str(year)
        if key == "m":
            return f"{rng.randint(1, 12):02d}"
        if key.startswith("c"):
            return _chars(rng, int(key[1:]), _CODE)
        return _digits(rng, int(key))

    return re.sub(r"\{(\w+)\}", one, pattern)


def _time(rng: Random, lang: str) -> str:
    h, m = rng.randint(7, 18), rng.choice(("00", "15", "30", "45"))
    if lang == "de":
        return rng.choice((f"{h}:{m} Uhr", f"{h}.{m} Uhr", f"{h:02d}:{m}"))
    return rng.choice((f"{h % 12 or 12}:{m} {'am' if h < 12 else 'pm'}", f"{h:02d}:{m}"))


def _percentage(rng: Random, lang: str) -> str:
    n = rng.randint(1, 30)
    if lang == "de":
        return rng.choice((f"{n} %", f"{n}%", f"{n},5 %"))
    return rng.choice((f"{n}%", f"{n}.5%", f"{n} per cent"))


def _version(rng: Random, _: str) -> str:
    a, b, c = rng.randint(1, 9), rng.randint(0, 30), rng.randint(0, 9)
    return rng.choice((f"{a}.{b}.{c}", f"FRITZ!OS 7.{rng.randint(21, 62)}", f"v{a}.{b}.{c}",
                       f"10.0.{rng.randint(19041, 22631)}.{rng.randint(1000, 4000)}"))  # fmt: skip


def _quantity(rng: Random, lang: str) -> str:
    months = "Monate" if lang == "de" else "months"
    return rng.choice((f"{rng.randint(2, 64)} GB", f"{rng.choice((16, 50, 100, 250))} Mbit/s",
                       f"{rng.randint(2, 36)} {months}"))  # fmt: skip


def _meter_reading(rng: Random, _: str) -> str:
    return rng.choice((f"{rng.randint(1000, 99999):05d},{rng.randint(0, 9)} kWh",
                       f"{rng.randint(100, 9999)} m³"))  # fmt: skip


def _patterned(patterns: tuple[str, ...]) -> Callable[[Random, str], str]:
    return lambda rng, _: from_pattern(rng, rng.choice(patterns))


LOOKALIKE_VALUES: dict[str, Callable[[Random, str], str]] = {
    "date": date_text,
    "birth_date": birth_date_text,
    "year": lambda r, _: str(r.randint(2015, 2024)),
    "time": _time,
    "price": price_text,
    "percentage": _percentage,
    "version": _version,
    "quantity": _quantity,
    "meter_reading": _meter_reading,
    "postal_code": lambda r, _: r.choice(CITIES),
    "street_address": lambda r, _: f"{r.choice(STREETS)} {r.randint(1, 120)}{r.choice('  ab')}",
    "bic": lambda r, _: r.choice(BICS),
    "organisation": lambda r, _: r.choice(INSURERS),
    **{kind: _patterned(patterns) for kind, patterns in NUMBER_PATTERNS.items()},
}


def lookalike_value(rng: Random, kind: str, lang: str) -> str:
    """A value of ``kind`` no part of which validates as any checkable type."""
    for _ in range(1000):
        value = LOOKALIKE_VALUES[kind](rng, lang).strip()
        if not ids.lookalike_hits(value):
            return value
    raise RuntimeError(f"no clean {kind} look-alike drawn")


# ---- slots --------------------------------------------------------------------------------------
IDENTIFIER_SLOTS = {
    "taxid": E.DE_TAX_ID, "stnr": E.DE_TAX_NUMBER, "vat": E.DE_VAT_ID,
    "rvnr": E.DE_PENSION_NUMBER, "kvnr": E.DE_HEALTH_INSURANCE_NUMBER, "bsn": E.NL_BSN,
    "svnr": E.AT_SVNR, "nir": E.FR_NIR, "cf": E.IT_FISCAL_CODE, "dni": E.ES_DNI,
    "nie": E.ES_NIE, "pesel": E.PL_PESEL, "cc": E.CREDIT_CARD, "plate": E.DE_LICENSE_PLATE,
}  # fmt: skip
# The label in front of a foreign identifier (or a mistyped one) when a template names it
# generically; the value's own context words keep texts realistic.
ID_LABELS: dict[str, dict[str, str]] = {
    E.NL_BSN: {"de": "BSN (Niederlande):", "en": "Dutch BSN:"},
    E.AT_SVNR: {"de": "österr. SV-Nummer:", "en": "Austrian social insurance no.:"},
    E.FR_NIR: {"de": "NIR (Frankreich):", "en": "French NIR:"},
    E.IT_FISCAL_CODE: {"de": "Codice Fiscale:", "en": "Italian codice fiscale:"},
    E.ES_DNI: {"de": "DNI (Spanien):", "en": "Spanish DNI:"},
    E.ES_NIE: {"de": "NIE (Spanien):", "en": "Spanish NIE:"},
    E.PL_PESEL: {"de": "PESEL (Polen):", "en": "Polish PESEL:"},
    E.DE_TAX_ID: {"de": "Steuer-ID:", "en": "tax ID:"},
    E.IBAN: {"de": "IBAN:", "en": "IBAN:"},
    E.DE_VAT_ID: {"de": "USt-IdNr.:", "en": "VAT ID:"},
    E.CREDIT_CARD: {"de": "Kartennummer:", "en": "card number:"},
    E.DE_PENSION_NUMBER: {"de": "Versicherungsnummer:", "en": "pension insurance number:"},
    E.DE_HEALTH_INSURANCE_NUMBER: {"de": "Versichertennummer:", "en": "health insurance no.:"},
}
FOREIGN_IDS = (E.NL_BSN, E.AT_SVNR, E.FR_NIR, E.IT_FISCAL_CODE, E.ES_DNI, E.ES_NIE, E.PL_PESEL)
BAD_IDS = (E.DE_TAX_ID, E.IBAN, E.DE_VAT_ID, E.CREDIT_CARD, E.NL_BSN, E.PL_PESEL,
           E.DE_PENSION_NUMBER, E.DE_HEALTH_INSURANCE_NUMBER, E.AT_SVNR, E.FR_NIR, E.ES_DNI,
           E.ES_NIE, E.IT_FISCAL_CODE)  # fmt: skip
IBAN_CYCLE = ("DE", "AT", "DE", "NL", "DE", "FR", "DE", "IT", "DE", "ES", "DE", "BE", "DE", "LU",
              "DE", "PL", "DE", "IE")  # fmt: skip
_PLAIN_DE_STYLES = tuple(s for s in ids.DE_PHONE_STYLES if "{s2}" not in s)


class Filler:
    """Draws the value of each slot. Variants cycle rather than being drawn at random, so every
    phone format, IBAN country and foreign identifier appears in proportion; the values
    themselves come from the seeded ``rng``. A text's e-mail address belongs to the person last
    named in it, as in a real signature."""

    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.counters: dict[str, int] = {}
        self.person: tuple[str, str, bool] | None = None

    def turn(self, key: str) -> int:
        self.counters[key] = self.counters.get(key, -1) + 1
        return self.counters[key]

    def new_person(self) -> tuple[str, str, bool]:
        given, female = self.rng.choice(GIVEN)
        self.person = (given, self.rng.choice(SURNAMES), female)
        return self.person

    def fill(self, slot: str, lang: str) -> list[Segment]:
        rng = self.rng
        if slot in IDENTIFIER_SLOTS:
            return [(ids.valid(rng, IDENTIFIER_SLOTS[slot]), IDENTIFIER_SLOTS[slot])]
        if slot in SPECIAL_SLOTS:
            return self.special(SPECIAL_SLOTS[slot], lang)
        if slot in LOOKALIKE_VALUES:
            return [(lookalike_value(rng, slot, lang), slot)]
        if slot.startswith("bad_"):
            return self.bad(slot, lang)
        handler: Callable[[str], list[Segment]] = getattr(self, "slot_" + slot)
        return handler(lang)

    def special(self, entity: str, lang: str) -> list[Segment]:
        phrase = self.rng.choice(SPECIAL[entity][lang])
        article = _ARTICLE.match(phrase)
        cut = article.end() if article else 0
        return [(phrase[:cut], None), (phrase[cut:], entity)]

    def bad(self, slot: str, lang: str) -> list[Segment]:
        if slot == "bad_id":
            entity = BAD_IDS[self.turn(slot) % len(BAD_IDS)]
            prefix = [(ID_LABELS[entity][lang] + " ", None)]
        else:
            entity, prefix = IDENTIFIER_SLOTS.get(slot[4:], E.IBAN), []
        country = IBAN_CYCLE[self.turn("bad_iban") % len(IBAN_CYCLE)]
        return [*prefix, (ids.invalid(self.rng, entity, country=country), f"invalid_{entity}")]

    def slot_name(self, _: str) -> list[Segment]:
        given, surname, _female = self.new_person()
        return [(f"{given} {surname}", E.PERSON)]

    def gendered(self, female: bool) -> list[Segment]:
        given = self.rng.choice([g for g, f in GIVEN if f == female])
        self.person = (given, self.rng.choice(SURNAMES), female)
        return [(f"{given} {self.person[1]}", E.PERSON)]

    def slot_name_f(self, _: str) -> list[Segment]:
        return self.gendered(True)

    def slot_name_m(self, _: str) -> list[Segment]:
        return self.gendered(False)

    def slot_first(self, _: str) -> list[Segment]:
        given = (self.person or self.new_person())[0]
        return [(given, E.PERSON)]

    def slot_herr_frau(self, lang: str) -> list[Segment]:
        given, surname, female = self.new_person()
        if lang == "de":
            title = ("Frau" if female else "Herr") + (" Dr." if self.rng.random() < 0.25 else "")
        else:
            title = self.rng.choice(("Ms", "Mrs", "Dr") if female else ("Mr", "Dr"))
        name = surname if self.rng.random() < 0.6 else f"{given} {surname}"
        return [(title + " ", None), (name, E.PERSON)]

    def slot_dear(self, lang: str) -> list[Segment]:
        _given, surname, female = self.new_person()
        if lang == "de":
            title = "Sehr geehrte Frau" if female else "Sehr geehrter Herr"
        else:
            title = "Dear Ms" if female else "Dear Mr"
        return [(title + " ", None), (surname, E.PERSON)]

    def slot_email(self, _: str) -> list[Segment]:
        given, surname, _female = self.person or self.new_person()
        local = mail_local(given, surname, self.rng)
        return [(f"{local}@{self.rng.choice(MAIL_DOMAINS)}", E.EMAIL_ADDRESS)]

    def slot_org_email(self, _: str) -> list[Segment]:
        return [(self.rng.choice(ORG_MAILS), E.EMAIL_ADDRESS)]

    def slot_phone(self, lang: str) -> list[Segment]:
        i = self.turn("phone")
        if i % 4 == 3:
            return self.slot_phone_foreign(lang)
        style = ids.DE_PHONE_STYLES[self.turn("de_style") % len(ids.DE_PHONE_STYLES)]
        return [(ids.de_phone(self.rng, style, mobile=i % 2 == 0), E.PHONE_NUMBER)]

    def slot_mobile(self, _: str) -> list[Segment]:
        style = _PLAIN_DE_STYLES[self.turn("mobile") % len(_PLAIN_DE_STYLES)]
        return [(ids.de_phone(self.rng, style, mobile=True), E.PHONE_NUMBER)]

    def slot_phone_foreign(self, _: str) -> list[Segment]:
        style = ids.FOREIGN_PHONE_STYLES[self.turn("foreign") % len(ids.FOREIGN_PHONE_STYLES)]
        return [(ids.foreign_phone(self.rng, style), E.PHONE_NUMBER)]

    def slot_iban(self, _: str) -> list[Segment]:
        country = IBAN_CYCLE[self.turn("iban") % len(IBAN_CYCLE)]
        return [(ids.valid(self.rng, E.IBAN, country=country), E.IBAN)]

    def slot_iban_de(self, _: str) -> list[Segment]:
        return [(ids.valid(self.rng, E.IBAN, country="DE"), E.IBAN)]

    def slot_foreign_id(self, lang: str) -> list[Segment]:
        entity = FOREIGN_IDS[self.turn("foreign_id") % len(FOREIGN_IDS)]
        return [(ID_LABELS[entity][lang] + " ", None), (ids.valid(self.rng, entity), entity)]

    def slot_idcard(self, _: str) -> list[Segment]:
        return [(ids.doc_number(self.rng, passport=False, mrz=False), E.DE_ID_CARD)]

    def slot_idcard_mrz(self, _: str) -> list[Segment]:
        return [(ids.doc_number(self.rng, passport=False, mrz=True), E.DE_ID_CARD)]

    def slot_passport(self, _: str) -> list[Segment]:
        return [(ids.doc_number(self.rng, passport=True, mrz=False), E.DE_PASSPORT)]

    def slot_passport_mrz(self, _: str) -> list[Segment]:
        return [(ids.doc_number(self.rng, passport=True, mrz=True), E.DE_PASSPORT)]

    def slot_ip(self, _: str) -> list[Segment]:
        return [(ids.unambiguous(E.IP_ADDRESS, lambda: ids.ip_address(self.rng)), E.IP_ADDRESS)]

    def slot_apikey(self, _: str) -> list[Segment]:
        return [(api_key(self.rng, self.turn("apikey")), E.SECRET)]

    def slot_aws_id(self, _: str) -> list[Segment]:
        return [("AKIA" + _chars(self.rng, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), E.SECRET)]

    def slot_aws_secret(self, _: str) -> list[Segment]:
        return [(_chars(self.rng, 40, _ALNUM + "/+"), E.SECRET)]

    def slot_bearer(self, _: str) -> list[Segment]:
        if self.turn("bearer") % 2:
            return self.slot_jwt("")
        return [(_b64url(self.rng.randbytes(30)), E.SECRET)]

    def slot_jwt(self, _: str) -> list[Segment]:
        return [(jwt(self.rng), E.SECRET)]

    def slot_pem(self, _: str) -> list[Segment]:
        return [(pem_key(self.rng), E.SECRET)]

    def slot_city(self, _: str) -> list[Segment]:
        return [(self.rng.choice(CITIES).split(" ", 1)[1], None)]


# ---- rendering ----------------------------------------------------------------------------------
HOLE = re.compile(r"\{(\w+)\}|\[\[([^|\]]+)\|(\w+)\]\]")


def render(template: str, filler: Filler, lang: str) -> tuple[str, list[Label], list[Label]]:
    """Fill a template; return the text, its gold entities and its look-alikes."""
    text, entities, lookalikes, pos = "", [], [], 0
    for m in HOLE.finditer(template):
        segments: list[Segment] = [(template[pos : m.start()], None)]
        if m.group(1):
            segments += filler.fill(m.group(1), lang)
        else:
            segments.append((m.group(2), m.group(3)))
        for value, label in segments:
            if label is not None:
                start, end = len(text), len(text) + len(value)
                if label in E.ALL:
                    entities.append({"start": start, "end": end, "type": label})
                else:
                    lookalikes.append({"start": start, "end": end, "kind": label})
            text += value
        pos = m.end()
    return text + template[pos:], entities, lookalikes


def long_template(rng: Random, lang: str, domain: str, filler: Filler) -> str:
    """A ~1,000-character e-mail: greeting, several of the domain's templates, closing."""
    body = list(TEMPLATES[lang][domain])
    rng.shuffle(body)
    greeting, closing = rng.choice(GREETINGS[lang]), rng.choice(CLOSINGS[lang])
    for n in range(3, len(body) + 1):
        template = f"{greeting}\n\n{' '.join(body[:n])}\n\n{closing}"
        if len(render(template, Filler(Random(0)), lang)[0]) >= LONG_MIN_CHARS:
            return template
    return f"{greeting}\n\n{' '.join(body)}\n\n{closing}"


def build(seed: int = SEED) -> list[dict[str, Any]]:
    rng = Random(seed)
    filler = Filler(rng)
    jobs: list[tuple[str, str, str]] = []
    for lang in ("de", "en"):
        for domain, templates in TEMPLATES[lang].items():
            jobs += [(lang, domain, t) for t in templates for _ in range(REPEAT)]
            jobs += [
                (lang, domain, long_template(rng, lang, domain, filler))
                for _ in range(LONG_PER_DOMAIN)
            ]
    rng.shuffle(jobs)
    records = []
    for i, (lang, domain, template) in enumerate(jobs):
        filler.person = None
        text, entities, lookalikes = render(template, filler, lang)
        records.append(
            {
                "id": f"{lang}-{i:04d}",
                "lang": lang,
                "domain": domain,
                "text": text,
                "entities": entities,
                "lookalikes": lookalikes,
            }
        )
    return records


def dumps(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def main() -> None:
    records = build()
    DATASET.write_text(dumps(records), encoding="utf-8")
    print(f"wrote {len(records)} texts to {DATASET}")


# ---- templates ----------------------------------------------------------------------------------
GREETINGS = {
    "de": ("Sehr geehrte Damen und Herren,", "Guten Tag,", "Hallo zusammen,", "{dear},",
           "Liebes Serviceteam,"),
    "en": ("Dear Sir or Madam,", "Hello,", "Hi there,", "{dear},", "Dear support team,"),
}  # fmt: skip
CLOSINGS = {
    "de": ("Mit freundlichen Grüßen\n{name}\nTel. {phone}",
           "Viele Grüße\n{name}\n{email}",
           "Freundliche Grüße\n{herr_frau}\nMobil: {mobile} | E-Mail: {email}",
           "Beste Grüße\n{first}",
           "Mit freundlichen Grüßen\n{name}\n{street_address}, {postal_code}"),
    "en": ("Kind regards,\n{name}\nPhone: {phone}",
           "Best wishes,\n{name}\n{email}",
           "Regards,\n{herr_frau}\nMobile: {mobile} | Email: {email}",
           "Thanks,\n{first}",
           "Yours faithfully,\n{name}\n{street_address}, {postal_code}"),
}  # fmt: skip

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {"de": {}, "en": {}}
TEMPLATES["de"]["stadtwerke"] = (
    "Guten Tag, ich ziehe zum {date} nach {postal_code} um und möchte meinen Stromvertrag "
    "(Kundennummer {customer_number}) mitnehmen. Der Zählerstand am Auszugstag war "
    "{meter_reading}. Erreichbar bin ich unter {phone}.",
    "Bitte buchen Sie die Abschläge ab sofort von meinem neuen Konto ab: IBAN {iban}, "
    "Kontoinhaberin {name_f}. Das SEPA-Mandat für Vertragskonto {contract_number} soll bleiben.",
    "Hallo, meine Jahresabrechnung {invoice_number} über {price} ist viel zu hoch. Die "
    "Zählernummer {meter_number} auf der Rechnung stimmt nicht mit meinem Zähler überein. "
    "Bitte rufen Sie mich zurück: {phone}.",
    "Der Abschlag steigt laut Schreiben vom {date} um {percentage} auf {price} – das kann ich "
    "als Rentnerin kaum bezahlen. Gibt es eine Ratenzahlung?",
    "Seit {date} haben wir in der {street_address} kein warmes Wasser. Die [[Frau am "
    "Schalter|name_lookalike]] im Kundenzentrum meinte, ich solle mich schriftlich melden. "
    "Antwort bitte an {email}.",
    "Mein Mann {name_m} ist verstorben; bitte stellen Sie den Gasvertrag {contract_number} auf "
    "mich um. Sie erreichen mich unter {mobile}.",
    "Ich bin wegen [[COPD|HEALTH]] auf ein Beatmungsgerät angewiesen – bitte sperren Sie den "
    "Stromanschluss in {postal_code} auf keinen Fall. Kundennummer {customer_number}.",
    "Wie hoch ist der Grundpreis im Tarif Ökostrom ab {date}? Auf der Website stehen {price} "
    "im Monat, im Brief {price}.",
)
TEMPLATES["de"]["krankenkasse"] = (
    "Hallo, ich brauche eine neue Gesundheitskarte, meine alte ist gebrochen. "
    "Versichertennummer {kvnr}, Anschrift {street_address}, {postal_code}.",
    "Mein Arzt hat {health} diagnostiziert und eine Reha empfohlen. Meine Versichertennummer "
    "ist {kvnr}, Rückruf bitte unter {phone}.",
    "Anbei die Rechnung der [[Physiotherapie|HEALTH]] über {price} (Rechnungsnummer "
    "{invoice_number}). Die Erstattung bitte auf {iban} überweisen.",
    "Meine Tochter {name_f} (Versichertennummer {kvnr}) hat {health}; wir brauchen eine "
    "Haushaltshilfe, solange ich im Krankenhaus bin.",
    "Ich war bis {date} in den Niederlanden versichert, meine BSN ist {bsn}. Bitte klären Sie "
    "die Vorversicherungszeit mit der Zorgverzekeraar.",
    "Zahlt die Kasse einen [[Gentest|GENETIC]]? In meiner Familie gab es mehrfach "
    "[[Brustkrebs|HEALTH]], und meine Schwester hat {genetic}. Versichertennummer {kvnr}.",
    "Als [[Diabetikerin|HEALTH]] benötige ich ein neues Blutzuckermessgerät. Das Rezept "
    "(ausgestellt von Praxis {herr_frau}) habe ich am {date} eingereicht, Vorgangsnummer "
    "{case_number}.",
    "Wie lange dauert die Bearbeitung meines Antrags vom {date}? Der [[Herr an der "
    "Hotline|name_lookalike]] sprach von sechs Wochen.",
    "Ich bin bei der {organisation} versichert und wechsle zum {date}. Bei der Eingabe meiner "
    "{bad_id} meldet das Online-Formular „ungültig“ – habe ich mich vertippt?",
)
TEMPLATES["de"]["versicherung"] = (
    "Schadenmeldung: Am {date} um {time} ist mir auf der [[A 9|road]] ein Fahrzeug mit dem "
    "Kennzeichen {plate} aufgefahren. Mein Kennzeichen: {plate}, Versicherungsscheinnummer "
    "{policy_number}.",
    "Für die Berufsunfähigkeitsversicherung fragt der Antrag nach Vorerkrankungen: Ich habe "
    "{health} und bin seit {date} in Behandlung (behandelnd: {herr_frau}).",
    "Bitte ändern Sie die Bankverbindung für den Vertrag {policy_number} auf {iban} "
    "(Kontoinhaber {name_m}).",
    "Darf die Lebensversicherung einen [[Gentest|GENETIC]] verlangen? Mein Vater hatte "
    "[[Chorea Huntington|HEALTH]]. Rückruf bitte unter {phone}.",
    "Einbruch am {date} in der {street_address}, {postal_code}: gestohlen wurden ein Laptop "
    "({price}) und Schmuck. Das Aktenzeichen der Polizei lautet {aktenzeichen}.",
    "Unser Sohn {name_m} fährt ab jetzt den Wagen {plate} mit; bitte nehmen Sie ihn als Fahrer "
    "auf. Laut Rechner steigt der Beitrag um {price}.",
    "Die [[Vertragspartei|category_nearmiss]] muss den Schaden innerhalb einer Woche melden. "
    "Gilt das auch, wenn der Unfall am {date} im Ausland war?",
    "Meine Kreditkarte {cc} ist über Ihre Reiseversicherung abgesichert; sie wurde am {date} "
    "in Barcelona gestohlen. Die spanische Polizei hat meine Angaben notiert ({foreign_id}).",
)
TEMPLATES["de"]["bank"] = (
    "Ich möchte einen Freistellungsauftrag über {price} einrichten. Meine Steuer-ID lautet "
    "{taxid}, mein Konto {iban}.",
    "Bitte sperren Sie sofort meine Kreditkarte {cc}, sie wurde mir heute um {time} gestohlen. "
    "Rückruf an {mobile}.",
    "Für die Videoidentifikation habe ich meinen Personalausweis bereitgelegt, "
    "Ausweisnummer {idcard}, gültig bis {date}.",
    "Überweisung an {name}, IBAN {iban}, BIC {bic}, Betrag {price}, Verwendungszweck Rechnung "
    "{invoice_number}.",
    "Für das Geschäftskonto verlangen Sie unsere USt-IdNr. {vat} und die Steuernummer {stnr}. "
    "Ansprechpartner bei uns ist {herr_frau}, {phone}.",
    "Beim Online-Banking kommt „IBAN ungültig“ für {bad_iban}. Ich habe die Nummer von der "
    "Rechnung abgetippt.",
    "Seit dem Update auf {version} klappt die Anmeldung per [[Fingerabdruck|BIOMETRIC]] in der "
    "Banking-App nicht mehr.",
    "Meine Mutter {name_f} hat {health}; ich habe eine Vorsorgevollmacht und möchte ihr Konto "
    "{iban_de} mitverwalten.",
    "Wie hoch sind die Zinsen für Tagesgeld ab {date}? Im Flyer stehen {percentage}, online "
    "{percentage}.",
    "Die Abbuchung mit der Karte {bad_cc} wurde abgelehnt, obwohl das Konto gedeckt ist. "
    "Bitte prüfen Sie das bis {date}.",
)
TEMPLATES["de"]["telekom"] = (
    "Mein Internet fällt seit {date} jeden Abend gegen {time} aus. Die FRITZ!Box ({version}) "
    "hat die IP {ip}. Kundennummer {customer_number}, Rückruf bitte unter {phone}.",
    "Bitte portieren Sie meine Rufnummer {phone} zum {date} zu Ihnen. Der bisherige Vertrag "
    "läuft auf {name}.",
    "Ich habe die Rechnung {invoice_number} über {price} bekommen, obwohl der Vertrag "
    "gekündigt ist. Das Ticket {ticket_number} ist seit Wochen offen.",
    "Der Techniker kommt am {date} zwischen {time} und {time}. Bitte vorher kurz anrufen: "
    "{mobile}.",
    "Ich soll meine E-Mail-Adresse {email} neu bestätigen, aber der Link funktioniert nicht. "
    "Mein Router meldet sich mit {ip}.",
    "Der [[Herr an der Hotline|name_lookalike]] sagte, die Störung sei behoben – ist sie nicht. "
    "Vorgangsnummer {case_number}, Anschluss {phone}.",
    "Für den Neuvertrag im Shop habe ich meinen Reisepass vorgelegt, Passnummer {passport}. "
    "Warum brauchen Sie jetzt noch eine Kopie?",
    "Gibt es Glasfaser in {postal_code}? Im Moment habe ich nur {quantity} und zahle {price} "
    "im Monat.",
    "Sendungsnummer {tracking_number}: der neue Router ist nie angekommen. Bitte an "
    "{street_address} in {postal_code} liefern.",
)
TEMPLATES["de"]["support_email"] = (
    "Hallo Support, unser API-Key {apikey} ist versehentlich in einem öffentlichen Repository "
    "gelandet. Bitte sofort sperren. Gruß, {name}",
    "Der Request liefert 401, obwohl ich den Header Authorization: Bearer {bearer} "
    "mitschicke. Server-IP {ip}, Client {version}.",
    "Hier der Schlüssel aus der Konfiguration, damit Sie den Fehler nachstellen können:\n"
    "{pem}\nBitte danach löschen!",
    "Das Token {jwt} wird vom Gateway abgelehnt (Ticket {ticket_number}). Der Zugriff kam von "
    "{ip}.",
    "Bitte legen Sie für unsere neue Kollegin {name_f} ({email}) einen Zugang an. Sie ist unter "
    "{phone} erreichbar.",
    "Nach dem Update auf {version} stürzt der Client beim Start ab; unter {version} lief alles. "
    "Ticket {ticket_number}.",
    "In der .env stehen AWS_ACCESS_KEY_ID={aws_id} und AWS_SECRET_ACCESS_KEY={aws_secret} – "
    "ist das so richtig?",
    "Die Rechnung {invoice_number} über {price} bitte an unsere Buchhaltung; USt-IdNr. {vat}, "
    "Bestellnummer {order_number}.",
)
TEMPLATES["de"]["buergeramt"] = (
    "Ich möchte einen neuen Personalausweis beantragen. Mein alter Ausweis (Nr. {idcard}) "
    "läuft am {date} ab. Den Termin bitte an {email}.",
    "Für den Kinderreisepass unseres Sohnes {name_m} bringen wir ein [[biometrisches "
    "Passbild|BIOMETRIC]] mit. Werden die [[Fingerabdrücke|BIOMETRIC]] auch bei Kindern "
    "genommen?",
    "Anmeldung: {name}, geboren am {birth_date}, Religion: {religion}, neue Anschrift "
    "{street_address}, {postal_code}.",
    "Mein Reisepass {passport} ist verloren gegangen; die Verlustanzeige hat das Aktenzeichen "
    "{aktenzeichen}.",
    "Die Ausweis-App liest als Dokumentennummer {idcard_mrz}. Auf der Karte selbst steht die "
    "Seriennummer anders – ist das normal?",
    "Wo kann ich meinen [[Kirchenaustritt|RELIGION]] erklären? Ich wohne seit {date} in "
    "{postal_code}.",
    "Das Bürgeramt hat dienstags von {time} bis {time} geöffnet. Die [[Frau am "
    "Schalter|name_lookalike]] war sehr freundlich, aber die Wartemarke {case_number} kam nie "
    "dran.",
    "Bitte schicken Sie die Meldebescheinigung an {street_address}, {postal_code}. "
    "Antragsteller: {herr_frau}, geboren am {birth_date}. Die Gebühr von {price} überweise ich.",
    "Beim Antrag hat das Amt {biometric} von mir erfasst. Wie lange werden die Daten "
    "gespeichert? Ausweisnummer {idcard}.",
)
TEMPLATES["de"]["finanzamt"] = (
    "Steuernummer {stnr}, Steuer-ID {taxid}: Ich bitte um Fristverlängerung für die "
    "Erklärung {year} bis zum {date}.",
    "Ich habe Krankheitskosten von {price} angesetzt, weil ich {health} habe. Die Belege "
    "reiche ich nach; Steuer-ID {taxid}.",
    "Als {union} habe ich {price} [[Gewerkschaftsbeiträge|TRADE_UNION]] als Werbungskosten "
    "in der [[Anlage N|form_name]] eingetragen.",
    "Ich bin {politics} und habe {price} Mitgliedsbeitrag gezahlt. Ist das nach § 34g "
    "abziehbar? Steuernummer {stnr}.",
    "Die Erstattung von {price} bitte auf das Konto {iban_de}. Die Steuer-ID meines Mannes "
    "{name_m} ist {taxid}.",
    "Umsatzsteuer-Voranmeldung für {date}: USt-IdNr. {vat}, Kassenzeichen {kassenzeichen}, "
    "Zahlbetrag {price}.",
    "Auf der Lohnsteuerbescheinigung steht noch [[Kirchensteuer|RELIGION]], obwohl ich seit "
    "{date} nicht mehr {religion} bin. Steuer-ID {taxid}.",
    "Reicht für {year} die [[Anlage KAP|form_name]] oder brauche ich zusätzlich das Formular "
    "[[ESt 1 A|form_name]]?",
    "Die Steuer-ID im Bescheid, {bad_taxid}, stimmt nicht mit meiner überein. Meine richtige "
    "lautet {taxid}.",
    "Ich habe {price} [[Weihnachtsgeld|category_nearmiss]] bekommen; muss das extra "
    "angegeben werden? Steuernummer {stnr}, {herr_frau}.",
)
TEMPLATES["de"]["jobcenter"] = (
    "Ich beziehe Bürgergeld, BG-Nummer {bg_number}. Bitte überweisen Sie ab {date} auf mein "
    "neues Konto {iban}.",
    "Den Termin am {date} um {time} kann ich nicht wahrnehmen, weil ich {health} habe und "
    "[[krankgeschrieben|HEALTH]] bin. {name}, Tel. {phone}",
    "Für den Weiterbewilligungsantrag: Rentenversicherungsnummer {rvnr}, Steuer-ID {taxid}.",
    "Meine Frau {name_f} hat vorher in Polen gearbeitet, ihre PESEL ist {pesel}. Werden diese "
    "Zeiten angerechnet?",
    "Die Mietbescheinigung für {street_address}, {postal_code} (Kaltmiete {price}) schicke ich "
    "von {email}.",
    "Wie viel darf ich im Minijob dazuverdienen? Mein Arbeitgeber zahlt {price} im Monat, und "
    "ich bin mit den Schulden nicht mehr [[Herr der Lage|name_lookalike]].",
    "Da ich {union} bin, begleitet mich ein Gewerkschaftssekretär zum Termin am {date}. "
    "BG-Nummer {bg_number}.",
    "Ich war drei Jahre in Spanien beschäftigt; meine NIE war {nie}. Reicht eine Kopie des "
    "Arbeitsvertrags?",
)
TEMPLATES["de"]["auslaenderbehoerde"] = (
    "Ich bin {ethnic} und wurde in meinem Herkunftsland verfolgt. Mein Rechtsbeistand, "
    "{herr_frau}, hat die Unterlagen eingereicht, Aktenzeichen {aktenzeichen}.",
    "Ich wurde in meinem Heimatland bedroht, weil ich {orientation} bin. Bitte schreiben Sie "
    "mir nur an {email}.",
    "Für die Niederlassungserlaubnis: Mein Ehemann {name_m} ist Deutscher, Personalausweis "
    "{idcard}. Ich habe vorher in Spanien gelebt, NIE {nie}.",
    "Mein Codice Fiscale ist {cf}, meine deutsche Steuer-ID {taxid}. Welche Nummer brauchen "
    "Sie für die Blaue Karte?",
    "Ich studiere in {city} und komme aus Frankreich, NIR {nir}. Brauche ich überhaupt eine "
    "Aufenthaltserlaubnis?",
    "Bitte schicken Sie die Fiktionsbescheinigung an {street_address}, {postal_code}; mein "
    "Termin war am {date} um {time}.",
    "In der Botschaft wurden {biometric} von meiner Mutter erfasst. Wann wird das Visum "
    "erteilt? Vorgang {case_number}.",
    "Ich bin [[Christin|RELIGION]] und wurde deswegen im Iran bedroht. Rückruf bitte unter "
    "{phone}.",
    "Ich bin Grenzgängerin aus den Niederlanden, BSN {bsn}, und arbeite in {city}. Gilt die "
    "Freizügigkeit auch für meinen Mann?",
)
TEMPLATES["de"]["kfz_zulassung"] = (
    "Ich möchte mein Auto mit dem Kennzeichen {plate} abmelden. Für das neue Fahrzeug: eVB "
    "{evb_number}, FIN {vin}.",
    "Bitte reservieren Sie das Wunschkennzeichen {plate} für {name}; die Gebühr von {price} "
    "bitte von {iban_de} abbuchen.",
    "Zur Zulassung bringe ich meinen Personalausweis {idcard}, die Zulassungsbescheinigung "
    "Teil II und die eVB-Nummer {evb_number} mit.",
    "Das Fahrzeug {plate} wurde am {date} von meinem Vater {name_m} auf mich umgeschrieben, die "
    "Kfz-Steuer wird aber noch von seinem Konto {iban_de} abgebucht.",
    "Wie lange dauert eine Umschreibung? Ich habe einen Termin am {date} um {time}, "
    "Vorgangsnummer {case_number}.",
    "Die Führerscheinstelle verlangt ein Gutachten, weil ich {health} habe. Mein Kennzeichen "
    "ist {plate}, Tel. {mobile}.",
    "Parken vor der [[Kirchgasse 4|street_address]] ist mit dem Kennzeichen {plate} erlaubt? "
    "Ich habe einen Anwohnerparkausweis bis {date}.",
)
TEMPLATES["de"]["rentenversicherung"] = (
    "Versicherungsnummer {rvnr}: Bitte senden Sie mir eine Renteninformation an "
    "{street_address}, {postal_code}.",
    "Ich habe von {year} bis {year} in Österreich gearbeitet, meine SV-Nummer ist {svnr}. "
    "Bitte berücksichtigen Sie diese Zeiten.",
    "Antrag auf medizinische Reha: Ich habe {health}. Versicherungsnummer {rvnr}, "
    "Versichertennummer der Krankenkasse {kvnr}.",
    "Die Rente bitte ab {date} auf das Konto {iban} überweisen. Steuer-ID für die Meldung an "
    "das Finanzamt: {taxid}.",
    "Meine Mutter {name_f} (Versicherungsnummer {rvnr}) ist am {date} verstorben. Ich beantrage "
    "die Witwerrente für meinen Vater.",
    "Für die Anrechnung meiner Auslandszeiten: {foreign_id}. Die Nachweise schicke ich per Post.",
    "Wie hoch ist der Abschlag bei der Rente mit 63? Laut Rechner {percentage} weniger, also "
    "etwa {price} im Monat.",
    "In der Versicherungsnummer {bad_rvnr} ist wohl ein Zahlendreher. Bitte prüfen Sie das, "
    "{herr_frau}.",
    "Ich habe in Italien gearbeitet (Codice Fiscale {cf}) und in Frankreich (NIR {nir}). "
    "Werden beide Zeiten übertragen?",
)
TEMPLATES["de"]["gesundheitsamt"] = (
    "Mein Sohn {name_m} hat [[Masern|HEALTH]]; er geht in eine Kita in {postal_code}. Bitte "
    "rufen Sie mich an: {phone}.",
    "Ich bin [[HIV-positiv|HEALTH]] und brauche eine Beratung zur Therapie. Bitte nur per "
    "E-Mail an {email} antworten.",
    "Belehrung nach Infektionsschutzgesetz für {name}, geboren am {birth_date}; Termin am "
    "{date} um {time}.",
    "Bei drei Bewohnern unserer Einrichtung wurde [[Norovirus|HEALTH]] nachgewiesen. "
    "Ansprechperson: {herr_frau}, {phone}.",
    "Ich bin [[schwanger|HEALTH]] und arbeite in einer Kita. Bekomme ich wegen "
    "[[Ringelröteln|HEALTH]] ein Beschäftigungsverbot?",
    "Für die Einschulungsuntersuchung meiner Tochter {name_f} bringe ich den Impfpass mit; sie "
    "hat {health}.",
    "Wo finde ich das [[Gesundheitsamt|category_nearmiss]] in {postal_code}, und wann ist die "
    "Impfsprechstunde? Laut Website {time} bis {time}.",
    "Das Labor hat bei mir {genetic} festgestellt. Wer berät mich? Versichertennummer {kvnr}.",
    "Mein Computer hat einen [[Computervirus|category_nearmiss]], deshalb kam das Formular "
    "{case_number} nicht an. Ich schicke es an {org_email}.",
)
TEMPLATES["en"]["stadtwerke"] = (
    "Hello, I am moving to {postal_code} on {date} and would like to keep my electricity "
    "contract (customer number {customer_number}). The final meter reading was "
    "{meter_reading}. You can reach me on {phone}.",
    "Please take the monthly instalments from my new account from now on: IBAN {iban}, account "
    "holder {name}. The direct debit mandate for contract {contract_number} should stay.",
    "My annual bill {invoice_number} for {price} is far too high, and meter number "
    "{meter_number} on the bill is not the meter in my flat. Please call me back on {mobile}.",
    "Your letter of {date} says my instalment rises by {percentage} to {price}. [[Will|"
    "name_lookalike]] there be a hardship fund?",
    "We have had no hot water at {street_address} since {date}. The lady at the counter told "
    "me to write to {org_email}; please reply to {email}.",
    "My husband {name_m} passed away; please transfer the gas contract {contract_number} to my "
    "name. I am {religion} and the funeral is on {date}, so please call after that: {phone}.",
    "I rely on a home ventilator because of my [[motor neurone disease|HEALTH]], so please do "
    "not disconnect the supply. Customer number {customer_number}.",
)
TEMPLATES["en"]["krankenkasse"] = (
    "Hi, my health insurance card is broken and I need a new one. Insurance number {kvnr}, "
    "address {street_address}, {postal_code}.",
    "I was diagnosed with {health} last month and my GP recommends rehab. My insurance number "
    "is {kvnr}; please call me on {phone}.",
    "Attached is the [[physiotherapy|HEALTH]] invoice {invoice_number} for {price}. Please "
    "refund it to {iban}.",
    "Before moving to Germany I was insured in the Netherlands, my BSN is {bsn}. Could you "
    "confirm the previous insurance period with my old insurer?",
    "Does the fund pay for a [[genetic test|GENETIC]]? My mother had [[ovarian cancer|HEALTH]] "
    "and my sister carries {genetic}. Insurance number {kvnr}.",
    "As a [[diabetic|HEALTH]] I need a new glucose meter. My prescription from {herr_frau} was "
    "sent on {date}, case number {case_number}.",
    "I switch from the {organisation} on {date}. The online form keeps rejecting my {bad_id} – "
    "did I mistype something?",
    "[[Bill|name_lookalike]] payments for my premium failed twice. My card {cc} is valid until "
    "next year; please retry the charge.",
)
TEMPLATES["en"]["versicherung"] = (
    "Claim report: on {date} at {time} a car with the registration {plate} drove into me on "
    "the [[A 8|road]]. My own plate is {plate}, policy number {policy_number}.",
    "The disability insurance form asks about pre-existing conditions: I have {health} and "
    "have been treated by {herr_frau} since {date}.",
    "Please update the bank details for policy {policy_number} to {iban} (account holder {name}).",
    "Burglary at {street_address}, {postal_code} on {date}: a laptop ({price}) and jewellery "
    "were stolen. The police reference is {aktenzeichen}.",
    "Our son {name_m} will also drive the car {plate} from now on; please add him as a driver. "
    "The calculator shows an increase of {price}.",
    "The [[other party|category_nearmiss]] to the accident has not reported it yet. Is that a "
    "problem for my no-claims bonus? Reference {case_number}.",
    "A test showed that I have {genetic}. Can the life insurer ask about that? My father had "
    "[[Huntington's disease|HEALTH]]. Please call me on {mobile}.",
)
TEMPLATES["en"]["bank"] = (
    "I would like to set up an exemption order for {price}. My German tax ID is {taxid}, my "
    "account {iban}.",
    "Please block my credit card {cc} immediately, it was stolen today at {time}. Call me back "
    "on {phone}.",
    "For the video identification I have my German ID card ready, number {idcard}, valid "
    "until {date}.",
    "Transfer to {name}, IBAN {iban}, BIC {bic}, amount {price}, reference invoice "
    "{invoice_number}.",
    "For the business account you asked for our VAT ID {vat} and our tax number {stnr}. "
    "Contact person is {herr_frau}, {phone}.",
    "Online banking says 'invalid IBAN' for {bad_iban}. I copied it from the invoice.",
    "Since the update to {version} the app no longer accepts my [[fingerprint|BIOMETRIC]] "
    "for login.",
    "My mother {name_f} has {health}; I hold a lasting power of attorney and would like to "
    "manage her account {iban_de}.",
    "What is the interest rate on the savings account from {date}? The flyer says "
    "{percentage}, the website {percentage}.",
    "I am an expat from Spain and opened the account with my DNI {dni}; my wife used her "
    "{foreign_id}.",
)
TEMPLATES["en"]["telekom"] = (
    "My internet drops every evening around {time} since {date}. The router ({version}) has "
    "the IP {ip}. Customer number {customer_number}, please call {phone}.",
    "Please port my number {phone} to you on {date}. The old contract is in the name of {name}.",
    "I received invoice {invoice_number} for {price} although I cancelled the contract. "
    "Ticket {ticket_number} has been open for weeks.",
    "The technician is booked for {date} between {time} and {time}. Please call me "
    "beforehand: {mobile}.",
    "I was asked to confirm my email address {email} again but the link is broken. My router "
    "shows the public IP {ip}.",
    "The [[gentleman on the hotline|name_lookalike]] said the fault was fixed – it is not. "
    "Case {case_number}, line {phone}.",
    "For the new contract in the shop I showed my German passport, number {passport}. Why do "
    "you need a copy now?",
    "Is fibre available in {postal_code}? At the moment I only get {quantity} for {price} a "
    "month. [[Grant|name_lookalike]] me a discount, please!",
)
TEMPLATES["en"]["support_email"] = (
    "Hi support, our API key {apikey} was accidentally pushed to a public repository. Please "
    "revoke it right away. Cheers, {name}",
    "The request returns 401 although I send the header Authorization: Bearer {bearer}. "
    "Server IP {ip}, client {version}.",
    "Here is the key from our config so you can reproduce the error:\n{pem}\nPlease delete "
    "it afterwards!",
    "The gateway rejects the token {jwt} (ticket {ticket_number}). The request came from {ip}.",
    "Please create an account for our new colleague {name_f} ({email}). She can be reached on "
    "{phone}.",
    "After upgrading to {version} the client crashes on start; {version} worked fine. This "
    "looks like a [[race condition|category_nearmiss]]. Ticket {ticket_number}.",
    "Our .env has AWS_ACCESS_KEY_ID={aws_id} and AWS_SECRET_ACCESS_KEY={aws_secret} – is "
    "that the right format?",
    "Please send invoice {invoice_number} for {price} to accounts; VAT ID {vat}, purchase "
    "order {order_number}. [[Mark|name_lookalike]] it as paid once settled.",
    "We use a [[genetic algorithm|category_nearmiss]] for scheduling and the API key "
    "{apikey} hits the rate limit every night. Can you raise it?",
)
TEMPLATES["en"]["buergeramt"] = (
    "I would like to apply for a new ID card. My old card (no. {idcard}) expires on {date}. "
    "Please send the appointment to {email}.",
    "For our son {name_m}'s child passport we will bring a [[biometric photo|BIOMETRIC]]. Are "
    "[[fingerprints|BIOMETRIC]] taken from children as well?",
    "Registration: {name}, born {birth_date}, religion: {religion}, new address {street_address}, "
    "{postal_code}.",
    "My German passport {passport} was lost; the police report has the reference {aktenzeichen}.",
    "Where do I declare that I am [[leaving the church|RELIGION]]? I have lived in "
    "{postal_code} since {date}.",
    "The citizens' office is open on Tuesdays from {time} to {time}. The clerk was friendly, "
    "but waiting number {case_number} was never called.",
    "Please send a certificate of registration for {herr_frau}, born {birth_date}, to "
    "{street_address}, {postal_code}. I will transfer the fee of {price}.",
    "When I applied, the office recorded {biometric}. How long is that data kept? ID card "
    "{idcard}.",
    "The machine-readable zone of my passport shows {passport_mrz} as the document number. Is "
    "the last digit part of it?",
)
TEMPLATES["en"]["finanzamt"] = (
    "Tax number {stnr}, tax ID {taxid}: I kindly ask for an extension for the {year} return "
    "until {date}.",
    "I claimed medical costs of {price} because I have {health}. I will send the receipts; "
    "tax ID {taxid}.",
    "As I am {union}, I entered {price} of [[union dues|TRADE_UNION]] as work expenses.",
    "I am {politics} and paid {price} in membership fees. Can I deduct them?",
    "Please pay the refund of {price} into {iban_de}. My husband {name_m}'s tax ID is {taxid}.",
    "VAT return for {date}: VAT ID {vat}, payment reference {kassenzeichen}, amount {price}.",
    "My payslip still deducts [[church tax|RELIGION]] although I have not been {religion} "
    "since {date}. Tax ID {taxid}.",
    "The tax ID in the notice, {bad_taxid}, is not mine. My correct one is {taxid}.",
    "My freelance clients in the [[European Union|category_nearmiss]] need my VAT ID {vat}; "
    "is the reverse charge note enough?",
)
TEMPLATES["en"]["jobcenter"] = (
    "I receive citizen's benefit, BG number {bg_number}. Please pay to my new account {iban} "
    "from {date}.",
    "I cannot attend the appointment on {date} at {time} because I have {health} and am on "
    "[[sick leave|HEALTH]]. {name}, phone {phone}",
    "For the renewal: pension insurance number {rvnr}, tax ID {taxid}.",
    "My wife {name_f} worked in Poland before; her PESEL is {pesel}. Will those periods count?",
    "I will send the rent certificate for {street_address}, {postal_code} (rent {price}) from "
    "{email}.",
    "As I am {union}, a union representative will come with me on {date}. BG number {bg_number}.",
    "I worked in Austria for two years; my Austrian social insurance number is {svnr}. Do "
    "you need the contract too?",
)
TEMPLATES["en"]["auslaenderbehoerde"] = (
    "I am {ethnic} and was persecuted in my home country. My lawyer {herr_frau} has filed the "
    "documents, reference {aktenzeichen}.",
    "I was threatened at home because I am {orientation}. Please only write to me at {email}.",
    "For the settlement permit: my husband {name_m} is German, ID card {idcard}. I lived in "
    "Spain before, NIE {nie}.",
    "My codice fiscale is {cf} and my German tax ID is {taxid}. Which one do you need for the "
    "Blue Card?",
    "I am a student from France in {city}, social security number {nir}. Do I need a "
    "residence permit at all?",
    "Please send the provisional certificate to {street_address}, {postal_code}; my "
    "appointment was on {date} at {time}.",
    "I am [[Christian|RELIGION]] and was threatened for it in Iran. Please call me on {phone}.",
    "The embassy recorded {biometric} of my mother. When will the visa be issued? Case "
    "{case_number}.",
    "I commute from Maastricht, BSN {bsn}, and work in {city}. Does free movement cover my "
    "husband too?",
)
TEMPLATES["en"]["kfz_zulassung"] = (
    "I want to deregister my car with the plate {plate}. For the new vehicle: eVB "
    "{evb_number}, VIN {vin}.",
    "Please reserve the personalised plate {plate} for {name}; debit the fee of {price} from "
    "{iban_de}.",
    "For the registration I will bring my ID card {idcard}, the registration certificate part "
    "II and the eVB number {evb_number}.",
    "The car {plate} was transferred from my father {name_m} to me on {date}, but the vehicle "
    "tax is still taken from his account {iban_de}.",
    "How long does a re-registration take? I booked {date} at {time}, case number {case_number}.",
    "The licensing office wants a medical report because I have {health}. My plate is {plate}, "
    "mobile {mobile}.",
)
TEMPLATES["en"]["rentenversicherung"] = (
    "Pension insurance number {rvnr}: please send my pension statement to {street_address}, "
    "{postal_code}.",
    "I worked in Austria from {year} to {year}; my social insurance number there is {svnr}. "
    "Please take these periods into account.",
    "Application for medical rehab: I have {health}. Pension number {rvnr}, health insurance "
    "number {kvnr}.",
    "Please pay the pension from {date} into {iban}. Tax ID for the tax office: {taxid}.",
    "My mother {name_f} (pension number {rvnr}) died on {date}. I am applying for the widower's "
    "pension for my father.",
    "For my periods abroad: {foreign_id}. I will post the evidence.",
    "The pension number {bad_rvnr} seems to contain a typo. Could you check it, {herr_frau}?",
    "I worked in Italy (codice fiscale {cf}) and in Poland (PESEL {pesel}). Are both periods "
    "transferred?",
)
TEMPLATES["en"]["gesundheitsamt"] = (
    "My son {name_m} has [[measles|HEALTH]]; he attends a nursery in {postal_code}. Please call "
    "me: {phone}.",
    "I am [[HIV positive|HEALTH]] and need advice on treatment. Please reply by email only: "
    "{email}.",
    "Infection control briefing for {name}, born {birth_date}; appointment on {date} at {time}.",
    "Three residents of our care home tested positive for [[norovirus|HEALTH]]. Contact: "
    "{herr_frau}, {phone}.",
    "I am [[pregnant|HEALTH]] and work in a nursery. Will I get a work ban because of "
    "[[slapped cheek syndrome|HEALTH]]?",
    "The lab found {genetic} in my results. Who can advise me? Insurance number {kvnr}.",
    "Where is the public health office in {postal_code}, and when is the vaccination clinic? "
    "The website says {time} to {time}. [[Hope|name_lookalike]] you can help.",
    "For my daughter {name_f}'s school entry check I will bring her vaccination record; she "
    "has {health}.",
)
# Rarer identifiers, mistyped identifiers and special categories, added per domain.
TEMPLATES["de"]["bank"] += (
    "Ich bin Spanierin und habe das Konto mit meiner DNI {dni} eröffnet. Bitte hinterlegen Sie "
    "zusätzlich meine Kreditkarte {cc}.",
    "Die Überweisung an {bad_iban} kam zurück. Die richtige IBAN von {name} lautet {iban}.",
)
TEMPLATES["de"]["krankenkasse"] += (
    "Auf der Karte meines Sohnes steht {bad_kvnr}, im Brief aber {kvnr}. Welche Nummer stimmt?",
    "Die BSN {bad_bsn} aus meinem alten Vertrag wird nicht akzeptiert – meine richtige BSN ist "
    "{bsn}.",
    "Ich bin spanische Staatsangehörige (DNI {dni}) und brauche eine Bescheinigung für die "
    "Krankenversicherung in Madrid.",
)
TEMPLATES["de"]["finanzamt"] += (
    "ELSTER markiert zwei Angaben als fehlerhaft: {bad_id} und {bad_id}. Können Sie mir helfen?",
)
TEMPLATES["de"]["support_email"] += (
    "Die USt-IdNr. {bad_vat} im Kundenkonto ist falsch; korrekt ist {vat}. Bitte die "
    "Rechnung {invoice_number} neu ausstellen.",
)
TEMPLATES["de"]["jobcenter"] += (
    "Im Bescheid wurde meine Angabe falsch übernommen ({bad_id}). Richtig ist {foreign_id}.",
    "Mein Partner und ich leben in einer [[gleichgeschlechtlichen|SEXUAL_ORIENTATION]] "
    "Partnerschaft; zählt er zur Bedarfsgemeinschaft? BG-Nummer {bg_number}.",
    "Der Betriebsrat sagt, als {union} bekomme ich Rechtsschutz. Mein Arbeitgeber hat mir "
    "zum {date} gekündigt.",
)
TEMPLATES["de"]["auslaenderbehoerde"] += (
    "Ich war in der Türkei [[Mitglied der HDP|POLITICAL_OPINION]] und wurde deshalb "
    "inhaftiert. Mein Rechtsbeistand ist unter {phone} erreichbar.",
    "Ich bin {ethnic} und {religion}; in meinem Heimatland werden wir verfolgt. Vorgang "
    "{case_number}.",
    "Seit ich hier lebe, bin ich {politics}. Wirkt sich das auf die Einbürgerung aus? Meine "
    "DNI: {dni}.",
    "Die NIE {bad_nie} im Formular ist nicht meine, richtig ist {nie}. Mein Codice Fiscale "
    "wurde als {bad_cf} gedruckt.",
)
TEMPLATES["de"]["buergeramt"] += (
    "Wir sind ein [[lesbisches|SEXUAL_ORIENTATION]] Paar und möchten heiraten. Meine "
    "Partnerin ist Spanierin (DNI {dni}); welche Unterlagen braucht das Standesamt?",
)
TEMPLATES["de"]["rentenversicherung"] += (
    "Ich habe in Polen gearbeitet, PESEL {pesel}; der polnische Träger hat aber {bad_pesel} "
    "bestätigt.",
    "Meine Frau {name_f} war in Spanien (NIE {nie}) und in Frankreich (NIR {nir}) versichert.",
    "Meine Mutter {name_f} bezieht eine österreichische Pension, SV-Nummer {svnr}. Ist die SV-"
    "Nummer {bad_svnr} aus dem alten Bescheid ungültig?",
    "Die DNI {bad_dni} wurde falsch abgetippt, meine ist {dni}. Die NIR {bad_nir} stimmt auch "
    "nicht.",
)
TEMPLATES["de"]["versicherung"] += (
    "Bitte buchen Sie den Beitrag künftig von meiner Kreditkarte {cc} ab. Die alte Karte "
    "{bad_cc} ist abgelaufen.",
)
TEMPLATES["de"]["telekom"] += (
    "Ich zahle per Kreditkarte {cc}; die Abbuchung für Rechnung {invoice_number} ist doppelt "
    "erfolgt.",
)
TEMPLATES["de"]["gesundheitsamt"] += (
    "Ich bin {ethnic} und spreche wenig Deutsch. Gibt es eine Dolmetscherin für die "
    "Impfberatung? Tel. {phone}",
)
TEMPLATES["de"]["kfz_zulassung"] += (
    "Ich bin [[Mitglied im ADAC|category_nearmiss]] – reicht dessen Pannenschutz, oder "
    "brauche ich mehr? Kennzeichen {plate}.",
)
TEMPLATES["en"]["bank"] += (
    "The transfer to {bad_iban} bounced. The correct IBAN of {name} is {iban}.",
    "Please add my credit card {cc} as a backup; my old card {bad_cc} has expired.",
)
TEMPLATES["en"]["krankenkasse"] += (
    "My son's card says {bad_kvnr}, but your letter says {kvnr}. Which one is right?",
    "The BSN {bad_bsn} from my old contract is rejected – my correct BSN is {bsn}.",
)
TEMPLATES["en"]["finanzamt"] += (
    "ELSTER flags two entries as invalid: {bad_id} and {bad_id}. Can you help?",
    "The VAT ID {bad_vat} in my customer account is wrong; the correct one is {vat}.",
)
TEMPLATES["en"]["jobcenter"] += (
    "The decision contains a wrong number ({bad_id}). The correct one is {foreign_id}.",
    "The works council says that as {union} I get legal protection. My employer dismissed me "
    "as of {date}.",
)
TEMPLATES["en"]["auslaenderbehoerde"] += (
    "I was a [[member of the HDP|POLITICAL_OPINION]] in Turkey and was imprisoned for it. My "
    "lawyer can be reached on {phone}.",
    "My partner and I are a [[same-sex|SEXUAL_ORIENTATION]] couple; can he join me on a family "
    "reunification visa? Please reply to {email}.",
    "I am {ethnic} and {religion}; we are persecuted at home. Case {case_number}.",
    "The NIE {bad_nie} on the form is not mine, it should be {nie}. My codice fiscale was "
    "printed as {bad_cf}.",
)
TEMPLATES["en"]["buergeramt"] += (
    "Since moving here I have become {politics}. Does that affect my naturalisation? My "
    "Spanish DNI is {dni}.",
)
TEMPLATES["en"]["rentenversicherung"] += (
    "I worked in Poland, PESEL {pesel}, but the Polish institution confirmed {bad_pesel}.",
    "My wife {name_f} was insured in Spain (NIE {nie}) and in France (NIR {nir}).",
    "My mother {name_f} receives an Austrian pension, social insurance number {svnr}. Is the "
    "number {bad_svnr} on the old notice invalid?",
    "The DNI {bad_dni} was typed wrongly, mine is {dni}. The NIR {bad_nir} is also wrong.",
)
TEMPLATES["en"]["telekom"] += (
    "I pay by credit card {cc}; invoice {invoice_number} was charged twice.",
)
TEMPLATES["en"]["gesundheitsamt"] += (
    "I am {ethnic} and my German is limited; is there an interpreter for the vaccination "
    "advice? Phone {phone}",
)
TEMPLATES["en"]["kfz_zulassung"] += (
    "I am a [[member of the ADAC|category_nearmiss]]; does their breakdown cover apply? Plate "
    "{plate}.",
)
TEMPLATES["de"]["bank"] += (
    "Der Codice Fiscale meines Mannes ist {cf}; er bekommt eine Zweitkarte. Im "
    "Freistellungsauftrag steht die Steuer-ID {bad_taxid}, korrekt ist {taxid}.",
)
TEMPLATES["de"]["buergeramt"] += (
    "Der Reisepass meiner Tochter ({passport}) ist abgelaufen; sie braucht bis {date} einen "
    "neuen. Die MRZ meines eigenen Passes zeigt {passport_mrz} – ist die letzte Ziffer eine "
    "Prüfziffer?",
)
TEMPLATES["en"]["bank"] += (
    "My Italian codice fiscale is {cf}; do you need it for the tax residency form? My German "
    "passport number is {passport}.",
)
TEMPLATES["en"]["jobcenter"] += (
    "The tax ID {bad_taxid} on the form has a typo; mine is {taxid}. Our tax number as "
    "freelancers is {stnr}.",
)


if __name__ == "__main__":
    main()
