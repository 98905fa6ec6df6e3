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
from tests.pii_eval.templates import CLOSINGS, GREETINGS, TEMPLATES

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
    named in it, as in a real signature. The name pools are parameters so that the held-out set
    (``generate_holdout.py``) can draw people the development set never names."""

    def __init__(
        self,
        rng: Random,
        given: tuple[tuple[str, bool], ...] = GIVEN,
        surnames: tuple[str, ...] = SURNAMES,
    ) -> None:
        self.rng = rng
        self.given, self.surnames = given, surnames
        self.counters: dict[str, int] = {}
        self.person: tuple[str, str, bool] | None = None

    def turn(self, key: str) -> int:
        self.counters[key] = self.counters.get(key, -1) + 1
        return self.counters[key]

    def new_person(self) -> tuple[str, str, bool]:
        given, female = self.rng.choice(self.given)
        self.person = (given, self.rng.choice(self.surnames), female)
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
        given = self.rng.choice([g for g, f in self.given if f == female])
        self.person = (given, self.rng.choice(self.surnames), female)
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


if __name__ == "__main__":
    main()
