# ruff: noqa: RUF001 -- look-alike letters, dashes and spaces are this module's subject
"""Generate the ADVERSARIAL PII set: ``python -m tests.pii_eval.generate_adversarial``.

Values written to slip past pattern recognizers, in German and English sentences, one trick
per category (``CATEGORIES``): format characters inside a value, soft hyphens, full-width
forms, Cyrillic and Greek look-alike letters, dashes and Unicode dashes between digit groups,
Unicode spaces between groups, values wrapped in base64, several tricks at once, and values
split across two chat messages. Every category has hard negatives written with the same trick
(dates, ISBNs, order numbers, prices, mistyped identifiers): a set that only had positives
would reward a detector that flags everything.

Record (one JSON object per line)::

    {"id", "lang", "category", "trick", "messages": [
        {"field", "text", "entities": [{"start", "end", "type"}],
         "lookalikes": [{"start", "end", "kind"}]}, ...]}

A case is a list of texts because a value may be split across messages. ``field`` names the
request slot the text sits in ("messages[0].content"), so that cases whose PII sits in other
fields of a request (``messages[].name``, tool descriptions, ``response_format`` schemas:
category ``hidden_field``, to be added through the gateway's request-field extraction) fit the
same schema. Span rules as in ``generate.py``: a gold span covers the value as written, the
inserted invisible characters and separators included; a base64 blob's span is the whole
blob, typed as the one entity encoded in it. In ``split_messages`` cases every gold span is a
fragment of the same value, typed as the value.

Sentences and labels live in ``templates_adversarial.py``. Deterministic (fixed seed),
checked by ``test_adversarial.py``, and independent of the code under test: the tricks and
their inverse (``undo``) are this module's own.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

from policies import entities as E
from tests.pii_eval import generate as gen
from tests.pii_eval import identifiers as ids
from tests.pii_eval import templates_adversarial as T

SEED = 20251203
ADVERSARIAL = Path(__file__).with_name("adversarial.jsonl")
PER_CATEGORY = 40  # positive cases per category (split_messages: fewer, see CATEGORIES)
NEGATIVES = 20  # look-alike cases per category

# ---- the tricks -----------------------------------------------------------------------------
INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u200f", "\u2066",
             "\u2069", "\u202c")  # fmt: skip
SOFT_HYPHEN = "\u00ad"
DASHES = ("\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\ufe63", "\uff0d")
SPACES = ("\u00a0", "\u2009", "\u2007", "\u202f", "\u3000", "\u2002", "\u2003", "\u2008",
          "\u200a", "\u205f")  # fmt: skip
# Latin letters and the Cyrillic or Greek letters drawn for them.
TWINS: dict[str, str] = {
    "A": "АΑ", "B": "ВΒ", "C": "С", "E": "ЕΕ", "H": "НΗ", "I": "ІΙ", "J": "Ј", "K": "КΚ",
    "M": "МΜ", "N": "Ν", "O": "ОΟ", "P": "РΡ", "S": "Ѕ", "T": "ТΤ", "X": "ХΧ", "Y": "ΥҮ",
    "Z": "Ζ", "a": "а", "c": "с", "e": "е", "i": "і", "j": "ј", "o": "оο", "p": "р",
    "s": "ѕ", "x": "х", "y": "у",
}  # fmt: skip
_UNTWIN = {twin: latin for latin, twins in TWINS.items() for twin in twins}


def insert(rng: Random, value: str, chars: Sequence[str], n: int) -> str:
    """``n`` characters drawn from ``chars`` at positions strictly inside ``value``."""
    cuts = sorted(rng.sample(range(1, len(value)), min(n, len(value) - 1)), reverse=True)
    for cut in cuts:
        value = value[:cut] + rng.choice(chars) + value[cut:]
    return value


def hyphenate(rng: Random, value: str) -> str:
    """Soft hyphens every 2 to 5 characters, as a hyphenating editor leaves them."""
    out, i = "", 0
    while i < len(value):
        step = rng.randint(2, 5)
        out += value[i : i + step]
        i += step
        if i < len(value):
            out += SOFT_HYPHEN
    return out


def fullwidth(value: str, *, digits_only: bool = False) -> str:
    def wide(c: str) -> str:
        if digits_only and not c.isdigit():
            return c
        return chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c

    return "".join(wide(c) for c in value)


def twin(rng: Random, value: str, n: int = 1) -> str:
    """``n`` letters that have a Cyrillic or Greek twin replaced by one."""
    places = [i for i, c in enumerate(value) if c in TWINS]
    for i in rng.sample(places, min(n, len(places))):
        value = value[:i] + rng.choice(TWINS[value[i]]) + value[i + 1 :]
    return value


def undo(text: str) -> str:
    """The value as people mean it: this module's tricks reversed (for the dataset test)."""
    text = "".join(_UNTWIN.get(c, c) for c in text if c not in INVISIBLE and c != SOFT_HYPHEN)
    text = unicodedata.normalize("NFKC", text)
    for dash in DASHES:
        text = text.replace(dash, "-")
    for space in SPACES:
        text = text.replace(space, " ")
    return unicodedata.normalize("NFKC", text)


# ---- values as digit groups -------------------------------------------------------------------
@dataclass(frozen=True)
class Value:
    entity: str
    groups: tuple[str, ...]  # joined by one separator when written
    sep: str = " "

    def written(self, sep: str | None = None) -> str:
        return (self.sep if sep is None else sep).join(self.groups)


def grouped(compact: str, sizes: Sequence[int]) -> tuple[str, ...]:
    """``compact`` cut into groups of ``sizes`` (as many as it fills)."""
    parts, i = [], 0
    for n in sizes:
        parts.append(compact[i : i + n])
        i += n
    return tuple(part for part in parts if part)


IBAN_COUNTRIES = ("DE", "AT", "DE", "NL", "DE", "BE", "DE", "ES", "DE", "IT", "PL", "FR")
API_KEYS: tuple[Callable[[Random], str], ...] = (
    lambda r: "ghp_" + gen._chars(r, 36),
    lambda r: "sk-" + gen._chars(r, 48),
    lambda r: "glpat-" + gen._chars(r, 20),
    lambda r: "AKIA" + gen._chars(r, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
    lambda r: "hf_" + gen._chars(r, 34, gen._ALNUM[:52]),
    lambda r: "npm_" + gen._chars(r, 36),
    lambda r: "sk_live_" + gen._chars(r, 24),
    lambda r: "AIza" + gen._chars(r, 35),
)


# Bereichsnummern no pension carrier has (the Deutsche Rentenversicherung's list since 2008);
# ``identifiers`` draws from a wider range, with 27 and 41, which no real number begins with.
UNASSIGNED_AREAS = frozenset({"22", "27", "41"})


class Values:
    """Valid, unambiguous values of each type, as groups; variants cycle."""

    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.turns: dict[str, int] = {}

    def turn(self, key: str) -> int:
        self.turns[key] = self.turns.get(key, -1) + 1
        return self.turns[key]

    def make(self, entity: str, lang: str) -> Value:
        rng, i = self.rng, self.turn(entity)
        if entity == E.IBAN:
            country = IBAN_COUNTRIES[i % len(IBAN_COUNTRIES)]
            compact = ids.compact(ids.valid(rng, E.IBAN, country=country))
            return Value(entity, grouped(compact, [4] * (len(compact) // 4 + 1)))
        if entity == E.DE_TAX_ID:
            compact = ids.compact(ids.valid(rng, entity))
            return Value(entity, grouped(compact, ((2, 3, 3, 3), (3, 3, 3, 2))[i % 2]))
        if entity == E.PHONE_NUMBER:
            area, sub = ids.de_phone(rng, "0{a} {s}", mobile=i % 2 == 0).split(" ")
            shapes = ((area, sub), (area, sub[:3], sub[3:]), ("+49", area[1:], sub))
            return Value(entity, shapes[i % 3])
        if entity == E.CREDIT_CARD:
            compact = ids.compact(ids.valid(rng, entity))
            sizes = (4, 6, 5) if len(compact) == 15 else (4, 4, 4, 4)
            return Value(entity, grouped(compact, sizes))
        if entity == E.DE_VAT_ID:
            return Value(entity, grouped(ids.compact(ids.valid(rng, entity)), (2, 3, 3, 3)))
        if entity == E.DE_PENSION_NUMBER:
            compact = ids.compact(ids.valid(rng, entity))
            while compact[:2] in UNASSIGNED_AREAS:
                compact = ids.compact(ids.valid(rng, entity))
            return Value(entity, grouped(compact, (2, 6, 1, 2, 1)))
        if entity == E.DE_TAX_NUMBER:
            value = ids.unambiguous(entity, lambda: ids.valid(rng, entity))
            while "/" not in value:
                value = ids.valid(rng, entity)
            return Value(entity, tuple(value.split("/")), "/")
        if entity == E.AT_SVNR:
            return Value(entity, grouped(ids.compact(ids.valid(rng, entity)), (4, 6)))
        if entity == E.NL_BSN:
            return Value(entity, grouped(ids.compact(ids.valid(rng, entity)), (4, 2, 3)))
        if entity == E.FR_NIR:
            compact = ids.compact(ids.valid(rng, entity))
            return Value(entity, grouped(compact, (1, 2, 2, 2, 3, 3, 2)))
        if entity in (E.ES_NIE, E.ES_DNI):
            return Value(entity, (ids.compact(ids.valid(rng, entity)),))
        if entity == E.EMAIL_ADDRESS:
            given, _ = rng.choice(gen.GIVEN)
            local = gen.mail_local(given, rng.choice(gen.SURNAMES), rng)
            return Value(entity, (f"{local}@{rng.choice(gen.MAIL_DOMAINS)}",))
        if entity == E.PERSON:
            given, _ = rng.choice(gen.GIVEN)
            return Value(entity, (given, rng.choice(gen.SURNAMES)))
        if entity == E.IP_ADDRESS:
            ip = ids.unambiguous(E.IP_ADDRESS, lambda: ids.ip_address(rng))
            while ":" in ip:
                ip = ids.unambiguous(E.IP_ADDRESS, lambda: ids.ip_address(rng))
            return Value(entity, (ip,))
        if entity == E.SECRET:
            return Value(entity, (API_KEYS[i % len(API_KEYS)](rng),))
        if entity == E.HEALTH:
            return Value(entity, (rng.choice(T.DIAGNOSES[lang]),))
        if entity == E.DE_HEALTH_INSURANCE_NUMBER:
            return Value(entity, (ids.valid(rng, entity),))
        return Value(entity, (ids.valid(rng, entity),))


Case = dict[str, Any]


def message(text: str, spans: Sequence[tuple[int, int, str]], field: str) -> dict[str, Any]:
    """One text of a case; ``spans``: (start, end, entity type or look-alike kind)."""
    return {
        "field": field,
        "text": text,
        "entities": [{"start": s, "end": e, "type": t} for s, e, t in spans if t in E.ALL],
        "lookalikes": [{"start": s, "end": e, "kind": t} for s, e, t in spans if t not in E.ALL],
    }


def place(sentence: str, value: str, label: str) -> tuple[str, tuple[int, int, str]]:
    """``sentence`` (capitalised) with ``value`` for "{v}", and the value's span."""
    before, after = sentence.split("{v}")
    before = before[:1].upper() + before[1:]
    return before + value + after, (len(before), len(before) + len(value), label)


# ---- categories: which types, and how a value is written -------------------------------------
Trick = Callable[[Random, Value, int], tuple[str, str]]  # -> (written value, trick description)


def _zero_width(rng: Random, value: Value, _: int) -> tuple[str, str]:
    written = insert(rng, value.written(), INVISIBLE, rng.randint(1, 3))
    used = sorted({f"U+{ord(c):04X}" for c in written if c in INVISIBLE})
    return written, "inside: " + ", ".join(used)


def _soft_hyphen(rng: Random, value: Value, _: int) -> tuple[str, str]:
    return hyphenate(rng, value.written()), "soft hyphens U+00AD"


def _fullwidth(rng: Random, value: Value, i: int) -> tuple[str, str]:
    digits_only = i % 2 == 1 and any(c.isdigit() for c in value.written())
    what = "full-width digits" if digits_only else "full-width forms"
    return fullwidth(value.written(), digits_only=digits_only), what


def _confusable(rng: Random, value: Value, i: int) -> tuple[str, str]:
    written = value.written()
    if value.entity in (E.IBAN, E.DE_VAT_ID):  # the country code, where the letters are
        head = twin(rng, written[:2], 1 + i % 2)
        written = head + written[2:]
    else:
        written = twin(rng, written, 1 + i % 2)
    used = sorted({f"U+{ord(c):04X}" for c in written if c in _UNTWIN})
    return written, "look-alike letters: " + ", ".join(used)


def _dashes(rng: Random, value: Value, _: int) -> tuple[str, str]:
    return value.written("-"), "groups joined by '-'"


def _unicode_dash(rng: Random, value: Value, _: int) -> tuple[str, str]:
    dash = rng.choice(DASHES)
    return value.written(dash), f"groups joined by U+{ord(dash):04X}"


def _unicode_space(rng: Random, value: Value, _: int) -> tuple[str, str]:
    space = rng.choice(SPACES)
    return value.written(space), f"groups joined by U+{ord(space):04X}"


def _mixed(rng: Random, value: Value, i: int) -> tuple[str, str]:
    sep = rng.choice(DASHES + SPACES) if len(value.groups) > 1 else ""
    written = fullwidth(value.written(sep), digits_only=True)
    written = insert(rng, written, INVISIBLE, 2)
    return written, f"full-width digits, U+{ord(sep or ' '):04X} between groups, zero-width"


GROUPED = (E.IBAN, E.DE_TAX_ID, E.PHONE_NUMBER, E.CREDIT_CARD, E.DE_VAT_ID,
           E.DE_PENSION_NUMBER, E.DE_TAX_NUMBER, E.AT_SVNR, E.NL_BSN, E.FR_NIR)  # fmt: skip


@dataclass(frozen=True)
class Category:
    types: tuple[str, ...]
    trick: Trick | None  # None: built by its own function (base64, split_messages)
    cases: int = PER_CATEGORY


CATEGORIES: dict[str, Category] = {
    "zero_width": Category(
        (E.IBAN, E.DE_TAX_ID, E.PHONE_NUMBER, E.EMAIL_ADDRESS, E.CREDIT_CARD, E.SECRET,
         E.DE_VAT_ID, E.DE_PENSION_NUMBER, E.DE_HEALTH_INSURANCE_NUMBER, E.PERSON,
         E.IP_ADDRESS, E.HEALTH, E.DE_TAX_NUMBER, E.ES_NIE),
        _zero_width,
    ),
    "soft_hyphen": Category(
        (E.IBAN, E.DE_TAX_ID, E.PHONE_NUMBER, E.EMAIL_ADDRESS, E.CREDIT_CARD, E.SECRET,
         E.DE_PENSION_NUMBER, E.PERSON, E.HEALTH, E.AT_SVNR),
        _soft_hyphen,
    ),
    "fullwidth": Category(
        (E.IBAN, E.DE_TAX_ID, E.PHONE_NUMBER, E.EMAIL_ADDRESS, E.CREDIT_CARD, E.DE_VAT_ID,
         E.DE_PENSION_NUMBER, E.DE_HEALTH_INSURANCE_NUMBER, E.PERSON, E.IP_ADDRESS, E.ES_DNI,
         E.SECRET),
        _fullwidth,
    ),
    "confusable": Category(
        (E.IBAN, E.EMAIL_ADDRESS, E.DE_VAT_ID, E.PERSON, E.SECRET, E.ES_NIE), _confusable
    ),
    "dash_groups": Category(GROUPED, _dashes),
    "unicode_dash": Category(GROUPED, _unicode_dash),
    "unicode_space": Category(GROUPED, _unicode_space),
    "mixed": Category((E.IBAN, E.DE_TAX_ID, E.PHONE_NUMBER, E.CREDIT_CARD, E.DE_VAT_ID), _mixed),
    "base64": Category(
        (E.IBAN, E.DE_TAX_ID, E.PHONE_NUMBER, E.EMAIL_ADDRESS, E.CREDIT_CARD, E.SECRET,
         E.PERSON, E.DE_VAT_ID, E.DE_PENSION_NUMBER),
        None,
    ),
    "split_messages": Category(
        (E.IBAN, E.DE_TAX_ID, E.PHONE_NUMBER, E.EMAIL_ADDRESS, E.CREDIT_CARD, E.SECRET),
        None,
        24,
    ),
}  # fmt: skip
# Scored like the others but not held to a target: the gateway analyses each message on its
# own, so a value split across messages is found only where a fragment happens to be one.
MEASURED_ONLY = frozenset({"split_messages"})
# Reserved for PII in other request fields (messages[].name, tools, response_format), added
# later through the gateway's request-field extraction; no cases yet.
RESERVED = ("hidden_field",)
LANGS = ("de", "en")
FIRST = "messages[0].content"


def _value_for(values: Values, category: str, entity: str, lang: str) -> Value:
    """A value the category's trick can apply to (a letter with a twin, a country code...)."""
    for _ in range(200):
        value = values.make(entity, lang)
        head = value.written()[:2] if entity in (E.IBAN, E.DE_VAT_ID) else value.written()
        if category != "confusable" or any(c in TWINS for c in head):
            return value
    raise RuntimeError(f"no {entity} for {category}")


def positive(rng: Random, values: Values, category: str, n: int) -> Case:
    spec = CATEGORIES[category]
    entity = spec.types[n % len(spec.types)]
    lang = LANGS[(n + n // len(spec.types)) % 2]
    value = _value_for(values, category, entity, lang)
    assert spec.trick is not None
    written, trick = spec.trick(rng, value, n)
    sentence = rng.choice(T.SENTENCES[entity][lang])
    text, span = place(sentence, written, entity)
    return _case(lang, category, trick, [message(text, [span], FIRST)])


def _case(lang: str, category: str, trick: str, messages: list[dict[str, Any]]) -> Case:
    return {"id": "", "lang": lang, "category": category, "trick": trick, "messages": messages}


def b64(data: bytes, kind: int) -> str:
    """Standard, URL-safe (unpadded, as in tokens), or standard wrapped at 76 characters."""
    if kind == 1:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")
    encoded = base64.b64encode(data).decode()
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def encoded(rng: Random, values: Values, n: int) -> Case:
    spec = CATEGORIES["base64"]
    entity = spec.types[n % len(spec.types)]
    lang = LANGS[(n + n // len(spec.types)) % 2]
    value = values.make(entity, lang)
    label = "Name" if entity == E.PERSON else T.LABELS[entity]
    kind = n % 3
    if kind == 2:
        inner = json.dumps({label: value.written(), "note": T.LONG_NOTE[lang]}, ensure_ascii=False)
    elif kind == 1:
        inner = f"{label}: {value.written()}"
    else:
        inner = json.dumps({label: value.written()}, ensure_ascii=False)
    blob = b64(inner.encode(), kind)
    text, span = place(T.ENCODED_IN[lang][kind], blob, entity)
    trick = ("base64", "base64url, unpadded", "base64, wrapped at 76")[kind]
    return _case(lang, "base64", trick, [message(text, [span], FIRST)])


def _halves(value: Value, rng: Random) -> tuple[str, str]:
    if len(value.groups) > 1:
        cut = rng.randint(1, len(value.groups) - 1)
        return value.sep.join(value.groups[:cut]), value.sep.join(value.groups[cut:])
    written = value.written()
    if "@" in written:
        at = written.index("@") + 1
        return written[:at], written[at:]
    half = len(written) // 2
    return written[:half], written[half:]


def split(rng: Random, values: Values, n: int) -> Case:
    spec = CATEGORIES["split_messages"]
    entity = spec.types[n % len(spec.types)]
    lang = LANGS[(n + n // len(spec.types)) % 2]
    value = values.make(entity, lang)
    a, b = _halves(value, rng)
    first, second = rng.choice(T.SPLIT[lang])
    label = T.SPLIT_LABELS[entity][LANGS.index(lang)]
    text_a, span_a = place(first.replace("{label}", label).replace("{a}", "{v}"), a, entity)
    text_b, span_b = place(second.replace("{b}", "{v}"), b, entity)
    pieces = [message(text_a, [span_a], FIRST), message(text_b, [span_b], "messages[1].content")]
    return _case(lang, "split_messages", "value split across two messages", pieces)


# ---- look-alikes written with the same tricks --------------------------------------------------
INVALID = (E.IBAN, E.DE_TAX_ID, E.CREDIT_CARD, E.DE_VAT_ID, E.DE_PENSION_NUMBER)
INVALID_GROUPS: dict[str, Sequence[int]] = {
    E.IBAN: [4] * 6, E.DE_TAX_ID: (2, 3, 3, 3), E.CREDIT_CARD: (4, 4, 4, 4),
    E.DE_VAT_ID: (2, 3, 3, 3), E.DE_PENSION_NUMBER: (2, 6, 1, 2, 1),
}  # fmt: skip
PLAIN_KINDS = ("order_number", "customer_number", "invoice_number", "date", "tracking_number",
               "ticket_number")  # fmt: skip
LETTER_KINDS = ("order_number", "invoice_number", "customer_number", "ticket_number")
NEGATIVE_KINDS: dict[str, tuple[str, ...]] = {
    "zero_width": (*PLAIN_KINDS, *(f"invalid_{t}" for t in INVALID)),
    "soft_hyphen": (*PLAIN_KINDS, *(f"invalid_{t}" for t in INVALID)),
    "fullwidth": (*PLAIN_KINDS, *(f"invalid_{t}" for t in INVALID)),
    "confusable": (*LETTER_KINDS, "invalid_IBAN", "invalid_DE_VAT_ID"),
    "dash_groups": ("isbn", "date", "order_number", "case_number",
                    *(f"invalid_{t}" for t in INVALID)),
    "unicode_dash": ("isbn", "year_range", "page_range", *(f"invalid_{t}" for t in INVALID)),
    "unicode_space": ("amount", "price", *(f"invalid_{t}" for t in INVALID)),
    "mixed": ("order_number", "isbn", *(f"invalid_{t}" for t in INVALID)),
    "base64": ("encoded_text", "binary_blob"),
    "split_messages": ("order_number", "invalid_IBAN", "invalid_DE_TAX_ID"),
}  # fmt: skip


def isbn(rng: Random) -> Value:
    body = "978" + rng.choice("3") + gen._digits(rng, 2) + gen._digits(rng, 6)
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
    return Value("isbn", ("978", body[3], body[4:6], body[6:], str(-total % 10)))


def lookalike_groups(rng: Random, kind: str, lang: str, values: Values) -> Value:
    """A look-alike as groups (for the separator tricks); invalid ids in their type's groups."""
    if kind.startswith("invalid_"):
        entity = kind.removeprefix("invalid_")
        wrong = ids.compact(ids.invalid(rng, entity))
        return Value(kind, grouped(wrong, INVALID_GROUPS[entity]))
    if kind == "isbn":
        return isbn(rng)
    if kind == "date":
        d = ids.birth_date(rng, 2023, 2025)
        return Value(kind, (f"{d:%Y}", f"{d:%m}", f"{d:%d}"), "-")
    if kind == "year_range":
        year = rng.randint(2015, 2024)
        return Value(kind, (str(year), str(year + 1)), "-")
    if kind == "page_range":
        page = rng.randint(10, 400)
        return Value(kind, (str(page), str(page + rng.randint(2, 30))), "-")
    if kind == "amount":
        n = rng.randint(10_000, 9_999_999)
        return Value(kind, tuple(f"{n:,}".split(",")))
    if kind == "price":
        euros = rng.randint(1_000, 99_999)
        return Value(
            kind, (*f"{euros:,}".split(",")[:-1], f"{euros % 1000:03d},{rng.randint(0, 99):02d} €")
        )
    if kind == "case_number":
        return Value(kind, (gen._digits(rng, 4), gen._digits(rng, 4)), "-")
    if kind == "order_number" and rng.random() < 0.5:
        return Value(kind, (gen._digits(rng, 3), gen._digits(rng, 7), gen._digits(rng, 7)), "-")
    return Value(kind, (gen.lookalike_value(rng, kind, lang),))


# ISO dates and year ranges ("2024-01-15", "2023-2024") hold eight digits, which python's
# phonenumbers accepts as a German number without its trunk 0; written so, they are no phone
# number anyone dials, and exactly the look-alikes a dash-tolerant recognizer must leave alone.
DATE_KINDS = frozenset({"date", "year_range"})


def clean(kind: str, value: str) -> bool:
    """No part of the look-alike, tricks undone, validates as any checkable type."""
    hits = ids.lookalike_hits(undo(value))
    return not (hits - {E.PHONE_NUMBER} if kind in DATE_KINDS else hits)


def negative(rng: Random, values: Values, category: str, n: int) -> Case:
    kinds = NEGATIVE_KINDS[category]
    kind = kinds[n % len(kinds)]
    lang = LANGS[(n + n // len(kinds)) % 2]
    if category == "base64":
        return _negative_blob(rng, kind, lang)
    for _ in range(1000):
        value = lookalike_groups(rng, kind, lang, values)
        if category == "split_messages":
            a, b = _halves(value, rng)
            if all(clean(kind, part) for part in (value.written(), a, b)):
                return _negative_split(rng, kind, (a, b), lang)
            continue
        spec = CATEGORIES[category]
        assert spec.trick is not None
        written, trick = spec.trick(rng, value, n)
        # The trick must show (an order number without letters has no look-alike letter),
        # except for dashes, which dates and ISBNs carry anyway.
        shows = written != value.written() or (category == "dash_groups" and "-" in written)
        if shows and clean(kind, written):
            break
    else:
        raise RuntimeError(f"no clean {kind} look-alike for {category}")
    text, span = place(_frame(rng, kind, lang), written, kind)
    return _case(lang, category, trick, [message(text, [span], FIRST)])


def _frame(rng: Random, kind: str, lang: str) -> str:
    if kind.startswith("invalid_"):
        label = gen.ID_LABELS[kind.removeprefix("invalid_")][lang]
    else:
        label = T.KIND_LABELS[kind][LANGS.index(lang)]
    return rng.choice(T.FRAMES[lang]).replace("{label}", label)


def _negative_blob(rng: Random, kind: str, lang: str) -> Case:
    if kind == "binary_blob":
        data = rng.randbytes(rng.randint(24, 90))
    else:
        date, price = gen.date_text(rng, lang), gen.price_text(rng, lang)
        order = gen.lookalike_value(rng, "order_number", lang)
        note = {"de": f"Termin am {date}, Betrag {price}, Bestellung {order}",
                "en": f"Appointment on {date}, amount {price}, order {order}"}[lang]  # fmt: skip
        data = (
            json.dumps({"note": note}, ensure_ascii=False) if rng.random() < 0.5 else note
        ).encode()
    blob = b64(data, rng.randint(0, 2))
    text, span = place(_frame(rng, kind, lang), blob, kind)
    return _case(
        lang, "base64", "base64 of text without PII or of binary", [message(text, [span], FIRST)]
    )


def _negative_split(rng: Random, kind: str, halves: tuple[str, str], lang: str) -> Case:
    a, b = halves
    first, second = rng.choice(T.SPLIT[lang])
    label = _frame(rng, kind, lang).split(" {v}")[0].split(": ")[-1]
    text_a, span_a = place(first.replace("{label}", label).replace("{a}", "{v}"), a, kind)
    text_b, span_b = place(second.replace("{b}", "{v}"), b, kind)
    pieces = [message(text_a, [span_a], FIRST), message(text_b, [span_b], "messages[1].content")]
    return _case(lang, "split_messages", "look-alike split across two messages", pieces)


# ---- building ----------------------------------------------------------------------------------
def build(seed: int = SEED) -> list[Case]:
    rng = Random(seed)
    values = Values(rng)
    cases: list[Case] = []
    for category, spec in CATEGORIES.items():
        for n in range(spec.cases):
            if category == "base64":
                cases.append(encoded(rng, values, n))
            elif category == "split_messages":
                cases.append(split(rng, values, n))
            else:
                cases.append(positive(rng, values, category, n))
        cases += [negative(rng, values, category, n) for n in range(NEGATIVES)]
    rng.shuffle(cases)
    for i, case in enumerate(cases):
        case["id"] = f"adv-{case['lang']}-{i:04d}"
    return cases


def dumps(cases: list[Case]) -> str:
    return "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)


def main() -> None:
    cases = build()
    ADVERSARIAL.write_text(dumps(cases), encoding="utf-8")
    print(f"wrote {len(cases)} cases to {ADVERSARIAL}")


if __name__ == "__main__":
    main()
