"""Keyed surrogates for embeddings (``policies/pseudonym/surrogate.py``): shaped like the
values they stand for (valid IBANs, reserved e-mail domains), the same for one tenant and
value, other for another tenant or key, and rarely shared by two values."""

from __future__ import annotations

import random

import pytest
from stdnum import iban as iban_number

from policies import entities
from policies.pseudonym.stable import stable_pseudonym
from policies.pseudonym.surrogate import surrogate
from policies.pseudonym.surrogate_names import GIVEN, SURNAMES

KEY, OTHER_KEY = b"k" * 32, b"o" * 32


def test_a_person_becomes_a_person_with_two_given_names_and_a_double_surname() -> None:
    name = surrogate(KEY, "acme", entities.PERSON, "Max Mustermann")
    given, middle, surnames = name.split(" ")
    first, second = surnames.split("-")
    assert {given, middle} <= set(GIVEN)
    assert {first, second} <= set(SURNAMES)
    assert given != middle
    assert first != second


def test_the_same_value_the_same_surrogate_other_values_others() -> None:
    assert surrogate(KEY, "acme", entities.PERSON, "Max Mustermann") == surrogate(
        KEY,
        "acme",
        entities.PERSON,
        "Max  Mustermann",  # one identity: spaces normalised
    )
    assert surrogate(KEY, "acme", entities.PERSON, "Max Mustermann") != surrogate(
        KEY, "acme", entities.PERSON, "Erika Gabler"
    )
    # Another tenant, another key: another surrogate.
    assert surrogate(KEY, "other", entities.PERSON, "Max Mustermann") != surrogate(
        KEY, "acme", entities.PERSON, "Max Mustermann"
    )
    assert surrogate(OTHER_KEY, "acme", entities.PERSON, "Max Mustermann") != surrogate(
        KEY, "acme", entities.PERSON, "Max Mustermann"
    )


def test_ibans_are_valid_german_ibans_and_keep_their_identity() -> None:
    spaced = surrogate(KEY, "acme", entities.IBAN, "DE89 3704 0044 0532 0130 00")
    assert spaced == surrogate(KEY, "acme", entities.IBAN, "de89370400440532013000")
    assert spaced.startswith("DE")
    assert iban_number.is_valid(spaced)
    rng = random.Random(7)
    for _ in range(200):
        value = f"DE{rng.randrange(10**20):020d}"
        assert iban_number.is_valid(surrogate(KEY, "acme", entities.IBAN, value))


def test_addresses_and_numbers_keep_their_shape() -> None:
    email = surrogate(KEY, "acme", entities.EMAIL_ADDRESS, "max.mustermann@example.de")
    local, domain = email.split("@")
    assert domain == "example.org"  # reserved (RFC 2606): no one's mailbox
    assert local.isascii()
    assert "." in local
    phone = surrogate(KEY, "acme", entities.PHONE_NUMBER, "+49 30 1234567")
    assert phone.startswith("+49 ")
    assert phone.replace("+", "").replace(" ", "").isdigit()


@pytest.mark.parametrize("entity", [entities.DE_TAX_ID, entities.CREDIT_CARD, entities.HEALTH])
def test_types_without_a_surrogate_keep_their_stable_pseudonym(entity: str) -> None:
    value = "86095742719"
    assert surrogate(KEY, "acme", entity, value) == stable_pseudonym(KEY, "acme", entity, value)


def test_distinct_people_rarely_share_a_surrogate() -> None:
    """20,000 distinct names of one tenant: n² / 2.1·10⁹ = 0.19 shared pairs expected."""
    names = {f"Person {i} Beispiel" for i in range(20_000)}
    surrogates = {surrogate(KEY, "acme", entities.PERSON, name) for name in names}
    assert len(surrogates) >= len(names) - 2
