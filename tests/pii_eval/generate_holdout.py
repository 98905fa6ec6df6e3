"""Generate the HELD-OUT PII evaluation set: ``python -m tests.pii_eval.generate_holdout``.

The development set (``dataset.jsonl``) was looked at while the recognizers were tuned, so its
scores are optimistic. This set was written blind to the recognizers: other sentences
(``templates_holdout.py``), other people (name pools disjoint from ``generate.GIVEN`` and
``generate.SURNAMES``), other special-category phrases, and value formats the development set
does not use (phone numbers grouped in pairs or with extensions, more IBAN countries, Steuer-IDs
grouped 3-3-3-2, further API-key and private-key kinds, passwords). Hard negatives include new
kinds too: SEPA creditor IDs, commit hashes, checksums, UUIDs, public SSH keys, card end digits,
frame numbers, phone extensions.

Same record format, span rules and look-alike guarantee as ``generate.py`` (whose ``Filler``
and ``render`` it reuses); deterministic with its own seed, checked by ``test_dataset.py``.
"""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Callable
from pathlib import Path
from random import Random
from typing import Any

from stdnum import iban as stdnum_iban

from policies import entities as E
from tests.pii_eval import generate as gen
from tests.pii_eval import identifiers as ids
from tests.pii_eval import templates_holdout as T

SEED = 20250611
LONG_PER_DOMAIN = 2  # ~1,000-character e-mails per language and domain
LONG_MIN_CHARS = 900
HOLDOUT = Path(__file__).with_name("holdout.jsonl")

DIGITS, UPPER = "0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LETTERS = UPPER + UPPER.lower()
ALNUM, HEX = LETTERS + DIGITS, "0123456789abcdef"


def chars(rng: Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---- secrets ------------------------------------------------------------------------------------
API_KEYS: tuple[Callable[[Random], str], ...] = (
    lambda r: "sk_live_" + chars(r, 24),  # Stripe secret key
    lambda r: "AIza" + chars(r, 35, ALNUM + "-_"),  # Google API key
    lambda r: "hf_" + chars(r, 34, LETTERS),  # Hugging Face token
    lambda r: "sk-ant-api03-" + chars(r, 93, ALNUM + "-_") + "AA",  # Anthropic
    lambda r: "npm_" + chars(r, 36),
    lambda r: "github_pat_11" + chars(r, 20, UPPER + DIGITS) + "_" + chars(r, 59),
    lambda r: "sk-" + chars(r, 48),  # the OpenAI shape the development set has too
    lambda r: (
        f"xoxp-{chars(r, 11, DIGITS)}-{chars(r, 11, DIGITS)}-{chars(r, 12, DIGITS)}-"
        + chars(r, 32, HEX)
    ),
)
PASSWORD_CHARS = ALNUM + "!#%&*?-_"


def jwt_rs256(rng: Random) -> str:
    kid = chars(rng, 8, HEX)
    header = b64url(f'{{"alg":"RS256","typ":"JWT","kid":"{kid}"}}'.encode())
    exp = rng.randint(1_720_000_000, 1_760_000_000)
    claims = f'{{"iss":"https://login.example.org","sub":"{uuid(rng, "")}","exp":{exp}}}'
    return f"{header}.{b64url(claims.encode())}.{b64url(rng.randbytes(256))}"


# (label, DER-ish prefix, random bytes, line width): shapes of real RSA/PKCS#8/OpenSSH keys.
PEM_KINDS = (
    ("RSA PRIVATE KEY", "308204a40201000282010100", 1180, 64),
    ("PRIVATE KEY", "308204be020100300d06092a864886f70d0101010500", 1190, 64),
    ("OPENSSH PRIVATE KEY", b"openssh-key-v1\x00".hex(), 380, 70),
)


def pem_key(rng: Random, i: int) -> str:
    label, prefix, size, width = PEM_KINDS[i % len(PEM_KINDS)]
    body = base64.b64encode(bytes.fromhex(prefix) + rng.randbytes(size)).decode()
    lines = "\n".join(body[j : j + width] for j in range(0, len(body), width))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----"


# ---- look-alikes the development set does not have ---------------------------------------------
def uuid(rng: Random, _: str) -> str:
    h = chars(rng, 32, HEX)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{rng.choice('89ab')}{h[17:20]}-{h[20:]}"


def creditor_id(rng: Random, _: str) -> str:
    """A German SEPA creditor ID with correct check digits (ISO 7064 over national part + DE00)."""
    national = "0" + chars(rng, 10, DIGITS)
    number = int(national + "131400")  # D=13, E=14, then 00
    return f"DE{98 - number % 97:02d}ZZZ{national}"


MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def log_timestamp(rng: Random, lang: str) -> str:
    """A server-log or German timestamp (ISO 8601 ones always contain something the phone
    matcher accepts, so they cannot be clean look-alikes)."""
    d = ids.birth_date(rng, 2023, 2025)
    h, m, s = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    if lang == "de" and rng.random() < 0.5:
        return f"{d:%d.%m.%Y}, {h:02d}:{m:02d}:{s:02d}"
    return f"{d:%d}/{MONTH_ABBR[d.month - 1]}/{d.year}:{h:02d}:{m:02d}:{s:02d} +0000"


def ssh_pubkey(rng: Random, _: str) -> str:
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + rng.randbytes(32)
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} deploy@ci-runner"


EXTRA_LOOKALIKES: dict[str, Callable[[Random, str], str]] = {
    "uuid": uuid,
    "creditor_id": creditor_id,
    "log_timestamp": log_timestamp,
    "ssh_pubkey": ssh_pubkey,
    "commit_sha": lambda r, _: chars(r, 40, HEX),
    "sha256": lambda r, _: chars(r, 64, HEX),
    "card_last4": lambda r, _: chars(r, 4, DIGITS),
    "extension": lambda r, _: str(r.randint(10, 9999)),
    "frame_number": lambda r, _: gen.from_pattern(r, r.choice(("WBK{7}X", "{c2}{8}", "S{6}{c2}"))),
}


def lookalike(rng: Random, kind: str, lang: str) -> str:
    for _ in range(1000):
        value = EXTRA_LOOKALIKES[kind](rng, lang).strip()
        if not ids.lookalike_hits(value):
            return value
    raise RuntimeError(f"no clean {kind} look-alike drawn")


# ---- phone numbers: formats the development set does not print ----------------------------------
MOBILE = ("1511", "1520", "1577", "1590", "160", "162", "163", "170", "171", "172", "174",
          "175", "176", "177", "178", "179")  # fmt: skip
AREAS = ("30", "40", "89", "221", "341", "2151", "621", "361", "381", "7531", "551", "251",
         "6221", "761", "8821", "33203", "9131", "871")  # fmt: skip


def pairs(s: str) -> str:
    """ "2345678" -> "23 45 678": digits in pairs, an odd tail of three."""
    cut = len(s) - 3 if len(s) % 2 else len(s)
    return " ".join([s[i : i + 2] for i in range(0, cut, 2)] + ([s[cut:]] if s[cut:] else []))


PhoneStyle = Callable[[str, str], str]
DE_STYLES: tuple[PhoneStyle, ...] = (
    lambda a, s: f"0{a} / {s}",
    lambda a, s: f"+49 {a} {pairs(s)}",
    lambda a, s: f"+49-{a}-{s}",
    lambda a, s: f"0{a} {pairs(s)}",
    lambda a, s: f"(0{a}) {pairs(s)}",
    lambda a, s: f"+49 (0) {a} {s}",
    lambda a, s: f"0{a}{s}",
    lambda a, s: f"+49{a} {s}",
    lambda a, s: f"0049-{a}-{s}",
    lambda a, s: f"+49 {a}/{s}",
    lambda a, s: f"0{a} {s[:-3]}-{s[-3:]}",  # with an extension: landlines only
)
FOREIGN_STYLES = (
    "+380 67 ### ## ##", "+90 212 ### ## ##", "+7 9## ###-##-##", "+963 9## ### ###",
    "+234 803 ### ####", "+233 24 ### ####", "+84 9# ### ## ##", "+86 139 #### ####",
    "+91 98### #####", "+30 69# ### ####", "+385 91 ### ####", "+381 6# ### ####",
    "+40 7## ### ###", "+351 91# ### ###", "+41 79 ### ## ##", "+964 750 ### ####",
    "+93 7# ### ####", "+291 7 ## ## ##",
)  # fmt: skip


def de_phone(rng: Random, style: int, *, mobile: bool) -> str:
    fmt = DE_STYLES[style]
    mobile = mobile and style != len(DE_STYLES) - 1

    def make() -> str:
        area = rng.choice(MOBILE if mobile else AREAS)
        digits = rng.choice((10, 11)) - len(area)
        sub = rng.choice(DIGITS[1:]) + chars(rng, digits - 1, DIGITS)
        return fmt(area, sub)

    return ids.unambiguous(E.PHONE_NUMBER, make)


# ---- IBANs: the development set's countries and six more ----------------------------------------
NEW_BBAN: dict[str, Callable[[Random], str]] = {
    "CH": lambda r: chars(r, 17, DIGITS),
    "GB": lambda r: r.choice(("NWBK", "BARC", "HBUK", "LOYD")) + chars(r, 14, DIGITS),
    "HR": lambda r: chars(r, 17, DIGITS),
    "PT": lambda r: chars(r, 21, DIGITS),
    "RO": lambda r: r.choice(("RNCB", "BTRL", "BRDE")) + chars(r, 16, DIGITS),
    "GR": lambda r: chars(r, 23, DIGITS),
    "TR": lambda r: chars(r, 5, DIGITS) + "0" + chars(r, 16, DIGITS),
}
IBAN_CYCLE = ("DE", "CH", "DE", "AT", "GB", "DE", "HR", "DE", "PT", "NL", "DE", "RO", "DE", "GR",
              "FR", "DE", "TR", "PL", "DE", "IT")  # fmt: skip


def compact_iban(rng: Random, country: str) -> str:
    if country not in NEW_BBAN:
        return ids.compact(ids.valid(rng, E.IBAN, country=country))
    bban = NEW_BBAN[country](rng)
    return country + stdnum_iban.calc_check_digits(country + "00" + bban) + bban


def iban_text(rng: Random, country: str, turn: int) -> str:
    """Grouped by four mostly, compact every third, lower case (as typed in a chat) rarely."""

    def make() -> str:
        value = compact_iban(rng, country)
        if turn % 3 == 1:
            return value
        grouped = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return grouped.lower() if turn % 9 == 8 else grouped

    return ids.unambiguous(E.IBAN, make)


# ---- e-mail --------------------------------------------------------------------------------------
MAIL_DOMAINS = ("gmx.at", "bluewin.ch", "posteo.net", "mail.ru", "ukr.net", "wp.pl", "o2.pl",
                "outlook.com", "live.de", "aol.com", "googlemail.com", "arcor.de", "email.de",
                "vodafonemail.de", "me.com", "protonmail.com", "uni-hamburg.de",
                "studium.uni-koeln.de", "physio-lange.de", "web.de", "gmx.de")  # fmt: skip
ORG_MAILS = ("info@hausverwaltung-lindner.de", "wohngeld@stadt-bochum.de",
             "praxis@hausarzt-kaiserstrasse.de", "onlinewache@polizei.bwl.de",
             "kita.regenbogen@kita-verbund.de", "kundenservice@stadtwerke-bielefeld.de",
             "poststelle@fa-muenster-innenstadt.nrw.de", "service@drv-bund.de",
             "meldebehoerde@leipzig.de")  # fmt: skip
# Letters NFKD does not decompose: dotless i, l with stroke, d with stroke.
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "\u0131": "i", "ł": "l",
                       "đ": "d", "'": "", " ": ""})  # fmt: skip


def ascii_fold(text: str) -> str:
    nfkd = unicodedata.normalize("NFKD", text.lower().translate(_FOLD))
    return "".join(c for c in nfkd if not unicodedata.combining(c))


def mail_local(given: str, surname: str, rng: Random) -> str:
    g, s = ascii_fold(given), ascii_fold(surname)
    tag = rng.choice(("amt", "post", "bank", "shop"))
    return rng.choice((f"{g}.{s}", f"{g}-{s}", f"{s}.{g}+{tag}", f"{g[0]}{s}{rng.randint(1, 99)}",
                       f"{g.capitalize()}.{s.capitalize()}", f"{g}{s[0]}",
                       f"{s}_{g}{rng.randint(1960, 2005)}"))  # fmt: skip


# Labels in front of a mistyped identifier ({bad_id}): other wording than the development set.
BAD_ID_LABELS: dict[str, dict[str, str]] = {
    E.DE_TAX_ID: {"de": "IdNr.", "en": "Steuer-ID"},
    E.IBAN: {"de": "Kontonr. (IBAN)", "en": "bank account (IBAN)"},
    E.DE_VAT_ID: {"de": "USt-ID", "en": "VAT no."},
    E.CREDIT_CARD: {"de": "Kreditkartennr.", "en": "credit card"},
    E.NL_BSN: {"de": "Burgerservicenummer", "en": "BSN (NL)"},
    E.PL_PESEL: {"de": "PESEL-Nr.", "en": "PESEL no."},
    E.DE_PENSION_NUMBER: {"de": "RV-Nummer", "en": "German pension no."},
    E.DE_HEALTH_INSURANCE_NUMBER: {"de": "KV-Nummer", "en": "health insurance no."},
    E.AT_SVNR: {"de": "SVNR (AT)", "en": "Austrian SV no."},
    E.FR_NIR: {"de": "franz. Sozialversicherungsnr.", "en": "French social security no."},
    E.ES_DNI: {"de": "DNI-Nummer", "en": "DNI no."},
    E.ES_NIE: {"de": "NIE-Nummer", "en": "NIE no."},
    E.IT_FISCAL_CODE: {"de": "CF (Italien)", "en": "codice fiscale"},
}
SPECIAL_SLOT_OF = {entity: slot for slot, entity in gen.SPECIAL_SLOTS.items()}
TAX_ID_GROUPS = ((11,), (2, 3, 3, 3), (3, 3, 3, 2))
Segment = gen.Segment


def grouped(value: str, groups: tuple[int, ...]) -> str:
    parts, i = [], 0
    for n in groups:
        parts.append(value[i : i + n])
        i += n
    return " ".join(parts)


class HoldoutFiller(gen.Filler):
    """``generate.Filler`` with the held-out people, phrases and value formats."""

    def __init__(self, rng: Random) -> None:
        super().__init__(rng, given=T.GIVEN, surnames=T.SURNAMES)

    def fill(self, slot: str, lang: str) -> list[Segment]:
        if slot in EXTRA_LOOKALIKES:
            return [(lookalike(self.rng, slot, lang), slot)]
        if slot == "taxid":  # an identifier slot the base class would fill itself
            return self.slot_taxid(lang)
        return super().fill(slot, lang)

    def special(self, entity: str, lang: str) -> list[Segment]:
        phrase = self.rng.choice(T.SPECIAL[SPECIAL_SLOT_OF[entity]][lang])
        article = gen._ARTICLE.match(phrase)
        cut = article.end() if article else 0
        return [(phrase[:cut], None), (phrase[cut:], entity)]

    def bad(self, slot: str, lang: str) -> list[Segment]:
        if slot != "bad_id":
            return super().bad(slot, lang)
        entity = gen.BAD_IDS[self.turn(slot) % len(gen.BAD_IDS)]
        country = gen.IBAN_CYCLE[self.turn("bad_iban") % len(gen.IBAN_CYCLE)]
        wrong = ids.invalid(self.rng, entity, country=country)
        return [(BAD_ID_LABELS[entity][lang] + " ", None), (wrong, f"invalid_{entity}")]

    # ---- people ----
    def slot_name_inverted(self, _: str) -> list[Segment]:
        given, surname, _female = self.new_person()
        return [(f"{surname}, {given}", E.PERSON)]

    def slot_name_caps(self, _: str) -> list[Segment]:
        given, surname, _female = self.new_person()
        return [(f"{given} {surname.upper()}", E.PERSON)]

    def slot_surname(self, _: str) -> list[Segment]:
        return [(self.new_person()[1], E.PERSON)]

    def slot_kid(self, _: str) -> list[Segment]:
        """A child's first name; not the person an e-mail address later belongs to."""
        return [(self.rng.choice(self.given)[0], E.PERSON)]

    # ---- contact ----
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
        style = self.turn("de_style") % len(DE_STYLES)
        return [(de_phone(self.rng, style, mobile=i % 2 == 0), E.PHONE_NUMBER)]

    def slot_mobile(self, _: str) -> list[Segment]:
        style = self.turn("mobile") % (len(DE_STYLES) - 1)
        return [(de_phone(self.rng, style, mobile=True), E.PHONE_NUMBER)]

    def slot_phone_foreign(self, _: str) -> list[Segment]:
        style = FOREIGN_STYLES[self.turn("foreign") % len(FOREIGN_STYLES)]
        return [(ids.foreign_phone(self.rng, style), E.PHONE_NUMBER)]

    # ---- identifiers ----
    def slot_taxid(self, _: str) -> list[Segment]:
        groups = TAX_ID_GROUPS[self.turn("taxid") % len(TAX_ID_GROUPS)]

        def make() -> str:
            return grouped(ids.compact(ids.valid(self.rng, E.DE_TAX_ID)), groups)

        return [(ids.unambiguous(E.DE_TAX_ID, make), E.DE_TAX_ID)]

    def slot_iban(self, _: str) -> list[Segment]:
        i = self.turn("iban")
        return [(iban_text(self.rng, IBAN_CYCLE[i % len(IBAN_CYCLE)], i), E.IBAN)]

    def slot_iban_de(self, _: str) -> list[Segment]:
        return [(iban_text(self.rng, "DE", self.turn("iban_de")), E.IBAN)]

    # ---- secrets ----
    def slot_apikey(self, _: str) -> list[Segment]:
        return [(API_KEYS[self.turn("apikey") % len(API_KEYS)](self.rng), E.SECRET)]

    def slot_password(self, _: str) -> list[Segment]:
        return [(chars(self.rng, self.rng.randint(14, 20), PASSWORD_CHARS), E.SECRET)]

    def slot_aws_id(self, _: str) -> list[Segment]:
        prefix = self.rng.choice(("AKIA", "ASIA"))
        return [(prefix + chars(self.rng, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), E.SECRET)]

    def slot_bearer(self, _: str) -> list[Segment]:
        kind = self.turn("bearer") % 3
        if kind == 1:
            return self.slot_jwt("")
        token = (
            "ya29." + chars(self.rng, 120, ALNUM + "-_") if kind else b64url(self.rng.randbytes(32))
        )
        return [(token, E.SECRET)]

    def slot_jwt(self, _: str) -> list[Segment]:
        return [(jwt_rs256(self.rng), E.SECRET)]

    def slot_pem(self, _: str) -> list[Segment]:
        return [(pem_key(self.rng, self.turn("pem")), E.SECRET)]


# ---- building -----------------------------------------------------------------------------------
def long_template(rng: Random, lang: str, domain: str) -> str:
    """A ~1,000-character e-mail: greeting, several of the domain's templates, closing."""
    body = list(T.TEMPLATES[lang][domain])
    rng.shuffle(body)
    greeting, closing = rng.choice(T.GREETINGS[lang]), rng.choice(T.CLOSINGS[lang])
    # Paragraphs, not one run-on line: many templates end in a name or a number, and a
    # following capitalised word must not read as part of it.
    for n in range(3, len(body) + 1):
        template = "\n\n".join((greeting, *body[:n], closing))
        if len(gen.render(template, HoldoutFiller(Random(0)), lang)[0]) >= LONG_MIN_CHARS:
            return template
    return "\n\n".join((greeting, *body, closing))


def build(seed: int = SEED) -> list[dict[str, Any]]:
    rng = Random(seed)
    filler = HoldoutFiller(rng)
    jobs: list[tuple[str, str, str]] = []
    for lang in ("de", "en"):
        for domain, templates in T.TEMPLATES[lang].items():
            jobs += [(lang, domain, t) for t in templates]
            jobs += [
                (lang, domain, long_template(rng, lang, domain)) for _ in range(LONG_PER_DOMAIN)
            ]
    rng.shuffle(jobs)
    records = []
    for i, (lang, domain, template) in enumerate(jobs):
        filler.person = None
        text, entities, lookalikes = gen.render(template, filler, lang)
        records.append(
            {
                "id": f"ho-{lang}-{i:04d}",
                "lang": lang,
                "domain": domain,
                "text": text,
                "entities": entities,
                "lookalikes": lookalikes,
            }
        )
    return records


def main() -> None:
    records = build()
    HOLDOUT.write_text(gen.dumps(records), encoding="utf-8")
    print(f"wrote {len(records)} texts to {HOLDOUT}")


if __name__ == "__main__":
    main()
