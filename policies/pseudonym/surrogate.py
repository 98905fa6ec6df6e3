"""Keyed surrogates: stable pseudonyms shaped like the values they stand for, for embeddings.

A stable pseudonym (``stable.py``) keeps two values apart, but an embedding model reads its
twelve digits as noise: a query naming a person is barely nearer to that person's invoice
than to anyone else's (cosine 0.533 against 0.529 with all-MiniLM-L6-v2; with surrogates
0.711 against 0.455; the engine's own vectors of the originals: 0.737 against 0.345,
``tests/e2e/test_embeddings.py``). A surrogate keeps the value's kind as the model knows
it: a person becomes another person ("Jonas Paul Becker-Hoffmann"), an IBAN another valid
German IBAN, an e-mail address another address at ``example.org`` (RFC 2606), a phone number
another German number. The query and the invoice naming Max Mustermann both name the same
surrogate, so the search finds the invoice as it would the original. Types without a
surrogate here keep their stable pseudonym.

Like ``stable_pseudonym``: an HMAC-SHA-256 of the tenant, the entity type and the value's
identity under the gateway's pseudonym key, nothing stored, the same on every replica, other
for every other tenant. The digest picks the parts: a person's two given names and double surname
from ``surrogate_names`` (128·127·256·255 = 1.06·10⁹ combinations: two of n distinct names of
a tenant share a surrogate with probability about n² / 2.1·10⁹, one in 20 for 10,000 names,
about five pairs among 100,000; ``stable``'s 10¹² keeps that many people apart, at the cost
of search), e-mail addresses from the same names, IBAN and phone digits from 10¹⁸ and 10¹⁰
values. A surrogate may be a real person's name or number: it only ever reaches
the tenant's own embeddings engine and is never shown, stored or restored.
"""

from __future__ import annotations

import hashlib
import hmac

from policies import entities
from policies.pseudonym.placeholders import identity_key
from policies.pseudonym.stable import stable_pseudonym
from policies.pseudonym.surrogate_names import GIVEN, SURNAMES


def surrogate(key: bytes, tenant: str, entity: str, value: str) -> str:
    message = "\0".join(("surrogate", tenant, entity, identity_key(entity, value))).encode()
    number = int.from_bytes(hmac.new(key, message, hashlib.sha256).digest(), "big")
    if entity == entities.PERSON:
        return _person(number)
    if entity == entities.EMAIL_ADDRESS:
        return _email(number)
    if entity == entities.IBAN:
        return _iban(number % 10**18)
    if entity == entities.PHONE_NUMBER:
        return _phone(number % 10**10)
    return stable_pseudonym(key, tenant, entity, value)


def _names(number: int) -> tuple[str, str, str, str]:
    """Two given names and a double surname, each pair of two different names."""
    given, number = _pair(GIVEN, number)
    surnames, _ = _pair(SURNAMES, number)
    return given + surnames


def _pair(names: tuple[str, ...], number: int) -> tuple[tuple[str, str], int]:
    size = len(names)
    first, number = number % size, number // size
    second, number = (first + 1 + number % (size - 1)) % size, number // (size - 1)
    return (names[first], names[second]), number


def _person(number: int) -> str:
    given, middle, first, second = _names(number)
    return f"{given} {middle} {first}-{second}"


_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def _email(number: int) -> str:
    given, middle, first, second = (part.lower().translate(_ASCII) for part in _names(number))
    return f"{given}.{middle}.{first}-{second}@example.org"


def _iban(digits: int) -> str:
    """A German IBAN (``DE``, two check digits, 18 digits: bank code and account) whose check
    digits are right (ISO 13616: the number with ``DE00`` moved to its end, mod 97)."""
    bban = f"{digits:018d}"
    check = 98 - int(bban + "131400") % 97  # D=13, E=14, then "00"
    iban = f"DE{check:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def _phone(digits: int) -> str:
    number = f"{digits:010d}"
    return f"+49 {number[:3]} {number[3:]}"
