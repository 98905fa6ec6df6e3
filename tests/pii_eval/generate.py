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
  special-category fact about a person: the diagnosis, condition or treatment ("Diabetes",
  "HIV-positiv", "schwanger"); the faith or denomination word ("evangelisch", "Muslimin");
  party, movement or union together with the membership word when they form one phrase
  ("Mitglied der SPD", "ver.di-Mitglied", "member of Unite"); the orientation word
  ("lesbisch"); the origin phrase with its noun ("kurdischer Herkunft"); the genetic test or
  finding ("Gentest", "BRCA1-Mutation"); the biometric feature ("Fingerabdrücke"). Articles,
  verbs and the person stay outside. General mentions that say nothing about a person
  ("das Gesundheitsamt", "die Europäische Union") are not labelled, several are look-alikes.

Look-alikes (hard negatives) carry no gold entity; a prediction overlapping one is a false
positive on look-alikes. None of them validates as any checkable type (``lookalike_hits``);
the ``invalid_<TYPE>`` kinds have the shape of that type with a wrong check character.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Callable, Iterator
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
    "Hartmann", "Brandt", "Vogel", "Yılmaz", "Kaya", "Demir", "Şahin", "Öztürk", "Nowak",
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
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ı": "i", "ş": "s", "é": "e",
                       "'": "", " ": "", "ł": "l", "ś": "s", "ğ": "g"})  # fmt: skip


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
}  # fmt: skip
# A phrase may start with an article that the span rule leaves out.
_ARTICLE = re.compile(r"^(?:eine?n?|an?|the) ")


# ---- secrets -------------------------------------------------------------------------------------
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _chars(rng: Random, n: int, alphabet: str = _ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def api_key(rng: Random, i: int) -> str:
    kinds = (
        lambda: "sk-" + _chars(rng, 48),
        lambda: "ghp_" + _chars(rng, 36),
        lambda: "sk-proj-" + _chars(rng, 56, _ALNUM + "-_"),
        lambda: "glpat-" + _chars(rng, 20, _ALNUM + "-_"),
        lambda: f"xoxb-{rng.randint(10**11, 10**12)}-{rng.randint(10**12, 10**13)}-"
        + _chars(rng, 24),
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


# ---- look-alike values: drawn until no part validates as any checkable type -----------------
def _clean_lookalike(rng: Random, make: Callable[[Random], str]) -> str:
    for _ in range(1000):
        value = make(rng)
        if not ids.lookalike_hits(value):
            return value
    raise RuntimeError("no clean look-alike drawn")


def _n(rng: Random, n: int) -> str:
    return str(rng.randint(10 ** (n - 1), 10**n - 1))


MONTHS = {
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
           "Oktober", "November", "Dezember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}  # fmt: skip


def date_text(rng: Random, lang: str) -> str:
    d = ids.birth_date(rng, 2023, 2025) if rng.random() < 0.8 else ids.birth_date(rng)
    styles = {
        "de": (f"{d:%d.%m.%Y}", f"{d:%Y-%m-%d}", f"{d.day}. {MONTHS['de'][d.month - 1]} {d.year}",
               f"{d:%d.%m.%y}"),
        "en": (f"{d:%d/%m/%Y}", f"{d:%Y-%m-%d}", f"{d.day} {MONTHS['en'][d.month - 1]} {d.year}",
               f"{MONTHS['en'][d.month - 1]} {d.day}, {d.year}"),
    }  # fmt: skip
    return rng.choice(styles[lang])


def price_text(rng: Random, lang: str) -> str:
    euros, cents = rng.choice((rng.randint(5, 99), rng.randint(100, 2500))), rng.randint(0, 99)
    de = f"{euros:,}".replace(",", ".") + f",{cents:02d}"
    en = f"{euros:,}.{cents:02d}"
    choices = {
        "de": (f"{de} €", f"EUR {de}", f"{de} Euro", f"€ {de}"),
        "en": (f"€{en}", f"EUR {en}", f"{en} euros", f"£{en}"),
    }
    return rng.choice(choices[lang])


CITIES = ("80331 München", "10117 Berlin", "50667 Köln", "20095 Hamburg", "60311 Frankfurt am Main",
          "70173 Stuttgart", "04109 Leipzig", "01067 Dresden", "90402 Nürnberg",
          "44135 Dortmund", "30159 Hannover", "28195 Bremen", "53111 Bonn", "55116 Mainz",
          "79098 Freiburg", "99084 Erfurt")  # fmt: skip
STREETS = ("Goethestraße", "Hauptstraße", "Bahnhofstraße", "Lindenweg", "Am Markt",
           "Kirchgasse", "Schillerplatz", "Friedrich-Ebert-Allee", "Rosenheimer Str.",
           "Ringstraße", "Talstraße", "Mozartweg")  # fmt: skip
INSURERS = ("AOK Bayern", "Techniker Krankenkasse", "Barmer", "DAK-Gesundheit", "IKK classic",
            "KKH", "HEK", "BKK firmus")  # fmt: skip
BICS = ("COBADEFFXXX", "DEUTDEDBXXX", "BYLADEM1001", "GENODEF1M01", "INGDDEFFXXX", "SSKMDEMMXXX")

LOOKALIKES: dict[str, Callable[[Random, str], str]] = {
    "order_number": lambda r, _: r.choice(("#" + _n(r, 8), f"B-{r.randint(2022, 2025)}-{_n(r, 5)}",
                                           f"AB{_n(r, 7)}", f"{_n(r, 3)}-{_n(r, 7)}-{_n(r, 7)}")),
    "ticket_number": lambda r, _: r.choice((f"#{r.randint(2023, 2025)}-{_n(r, 6)}",
                                            f"INC{_n(r, 7)}", f"T-{_n(r, 6)}",
                                            f"CS{_n(r, 8)}")),
    "case_number": lambda r, _: r.choice((f"{_n(r, 4)}-{_n(r, 4)}", f"VG-{_n(r, 6)}",
                                          f"{r.randint(2023, 2025)}/{_n(r, 5)}")),
    "invoice_number": lambda r, _: r.choice((f"RE-{r.randint(2023, 2025)}-{_n(r, 6)}",
                                             f"{r.randint(2023, 2025)}/{r.randint(1, 12):02d}/{_n(r, 4)}",
                                             f"INV-{_n(r, 5)}", f"R{_n(r, 9)}")),
    "customer_number": lambda r, _: r.choice((_n(r, 9), f"KD-{_n(r, 7)}", f"{_n(r, 3)} {_n(r, 3)} {_n(r, 3)}",
                                              f"K{_n(r, 8)}")),
    "contract_number": lambda r, _: r.choice((_n(r, 10), f"VK {_n(r, 4)} {_n(r, 4)} {_n(r, 2)}",
                                              f"V-{_n(r, 8)}")),
    "policy_number": lambda r, _: r.choice((f"{_n(r, 4)}.{_n(r, 4)}.{_n(r, 2)}", f"KH-{_n(r, 9)}",
                                            f"LV {_n(r, 3)}/{_n(r, 6)}")),
    "meter_number": lambda r, _: r.choice((f"1ESY{_n(r, 10)}", f"{_n(r, 8)}",
                                           f"1 APA01 {_n(r, 8)}")),
    "meter_reading": lambda r, _: r.choice((f"{r.randint(1000, 99999):05d},{r.randint(0, 9)} kWh",
                                            f"{r.randint(100, 9999)} m³")),
    "date": date_text,
    "year": lambda r, _: str(r.randint(2015, 2024)),
    "time": lambda r, lang: r.choice((f"{r.randint(7, 18)}:{r.choice(('00', '15', '30', '45'))} Uhr",
                                      f"{r.randint(7, 18)}.{r.choice(('00', '30'))} Uhr")
                                     if lang == "de" else (f"{r.randint(1, 11)}:{r.choice(('00', '15', '30'))} pm",
                                                           f"{r.randint(7, 18):02d}:{r.choice(('00', '30'))}")),
    "price": price_text,
    "percentage": lambda r, lang: (f"{r.randint(1, 30)}{r.choice((' %', '%', ',5 %'))}" if lang == "de"
                                   else f"{r.randint(1, 30)}{r.choice(('%', '.5%', ' per cent'))}"),
    "postal_code": lambda r, _: r.choice(CITIES),
    "street_address": lambda r, _: f"{r.choice(STREETS)} {r.randint(1, 120)}{r.choice(('', '', 'a', 'b'))}",
    "version": lambda r, _: r.choice((f"{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}",
                                      f"FRITZ!OS 7.{r.randint(21, 62)}", f"v{r.randint(1, 4)}.{r.randint(0, 30)}.{r.randint(0, 9)}",
                                      f"10.0.{r.randint(19041, 22631)}.{r.randint(1000, 4000)}")),
    "aktenzeichen": lambda r, _: r.choice((f"{r.randint(1, 99)} Js {_n(r, 4)}/{r.randint(23, 25)}",
                                           f"II/3-{_n(r, 4)}/{r.randint(2023, 2025)}",
                                           f"ST/{_n(r, 7)}/{r.randint(2023, 2025)}")),
    "kassenzeichen": lambda r, _: f"{r.randint(1, 9)}.{_n(r, 4)}.{_n(r, 6)}.{r.randint(1, 9)}",
    "bg_number": lambda r, _: f"{_n(r, 5)}BG{_n(r, 7)}",
    "evb_number": lambda r, _: _chars(r, 7, "ABCDEFGHJKLMNPRSTUVWXYZ23456789"),
    "vin": lambda r, _: r.choice(("WVW", "WBA", "WDD", "VF1", "ZFA")) + "ZZZ" + _chars(r, 11, "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"),
    "bic": lambda r, _: r.choice(BICS),
    "organisation": lambda r, _: r.choice(INSURERS),
    "quantity": lambda r, lang: r.choice((f"{r.randint(2, 64)} GB", f"{r.randint(16, 1000)} Mbit/s",
                                          f"{r.randint(2, 36)} Monate" if lang == "de" else f"{r.randint(2, 36)} months")),
}  # fmt: skip
