"""Placeholder names and the identity of a value: when two surface forms are "the same value".

A placeholder is ``<{ENTITY}_{n}>``; ``n`` counts from 1 per entity type within one
conversation. The vault hands them out; this module only names them and decides identity.

Identity (``identity_key``) errs on the side of two placeholders for one value rather than one
placeholder for two values: a shared placeholder would restore the wrong person's data, a split
one only makes the model see two mentions. So:

- identifiers (IBAN, tax ids, card numbers, ...): letters and digits only, upper case
  ("DE89 3704 0044 ..." = "de89370400...");
- licence plates: upper case, but separators kept as one "-": "M-AB 123" and "MA-B 123" are
  different plates, so the district boundary must survive;
- phone numbers: E.164 when ``phonenumbers`` can parse them (national numbers read as German:
  this is a gateway for German users), else digits and "+";
- e-mail addresses: case-insensitive (the local part is case-sensitive in theory, never in
  practice);
- IP addresses: the canonical form of ``ipaddress``;
- names and special-category words: Unicode NFC, whitespace collapsed, case-folded ("max
  müller" is Max Müller mistyped, not another person);
- secrets: exact (tokens differing in case are different tokens);
- any other entity type: NFC and collapsed whitespace, case kept (the conservative default).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

import phonenumbers

from policies import entities

# What a placeholder looks like (restoring matches exactly this, nothing wider).
PLACEHOLDER_RE = re.compile(r"<[A-Z][A-Z0-9_]*_\d+>")
ENTITY_RE = re.compile(r"[A-Z][A-Z0-9_]*")
PHONE_REGION = "DE"

_SPACE = re.compile(r"\s+")
_NOT_ALNUM = re.compile(r"[\W_]+")
_PLATE_SEPARATORS = re.compile(r"[\s\-]+")
_NOT_DIALLED = re.compile(r"[^\d+]+")

_CASELESS = frozenset({entities.PERSON}) | entities.SPECIAL_CATEGORIES
_ALNUM_IDS = (entities.IDENTIFIERS - {entities.DE_LICENSE_PLATE}) | {entities.CREDIT_CARD}


def placeholder(entity: str, number: int) -> str:
    return f"<{entity}_{number}>"


def check_entity(entity: str) -> str:
    """``entity`` if it can name a placeholder (it also becomes part of a Redis hash field)."""
    if ENTITY_RE.fullmatch(entity) is None:
        raise ValueError(f"entity type {entity!r} cannot name a placeholder")
    return entity


def identity_key(entity: str, value: str) -> str:
    """The normalised value: two surface forms with the same key get the same placeholder."""
    if entity in _ALNUM_IDS:
        return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", value)).upper()
    if entity == entities.DE_LICENSE_PLATE:
        plate = unicodedata.normalize("NFKC", value).strip()
        return _PLATE_SEPARATORS.sub("-", plate).upper()
    if entity == entities.PHONE_NUMBER:
        return _phone_key(value)
    if entity == entities.EMAIL_ADDRESS:
        return unicodedata.normalize("NFC", value).strip().casefold()
    if entity == entities.IP_ADDRESS:
        return _ip_key(value)
    if entity == entities.SECRET:
        return value.strip()
    text = _SPACE.sub(" ", unicodedata.normalize("NFC", value)).strip()
    return text.casefold() if entity in _CASELESS else text


def _phone_key(value: str) -> str:
    text = unicodedata.normalize("NFKC", value)
    try:
        number = phonenumbers.parse(text, PHONE_REGION)
    except phonenumbers.NumberParseException:
        return _NOT_DIALLED.sub("", text)
    key = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # E.164 drops the extension: two extensions of one switchboard are different numbers.
    return f"{key};ext={number.extension}" if number.extension else key


def _ip_key(value: str) -> str:
    text = value.strip()
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return text.casefold()
