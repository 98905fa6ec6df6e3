"""Placeholder names, value identity (normalisation) and the in-memory vault's semantics."""

from __future__ import annotations

import asyncio

import pytest

from policies import entities as e
from policies.pseudonym.placeholders import (
    PLACEHOLDER_RE,
    check_entity,
    identity_key,
    placeholder,
)
from policies.pseudonym.vault import MemoryPseudonymVault

# "12345678901" in full-width digits (U+FF11...): NFKC folds them to ASCII.
FULL_WIDTH_TAX_ID = "".join(chr(0xFF10 + int(d)) for d in "12345678901")


def test_placeholder_format_matches_what_restoring_looks_for() -> None:
    assert placeholder(e.DE_TAX_ID, 2) == "<DE_TAX_ID_2>"
    for name in ("<PERSON_1>", "<IBAN_12>", "<DE_TAX_ID_2>", "<X9_3>"):
        assert PLACEHOLDER_RE.fullmatch(name)
    for text in ("<person_1>", "<PERSON>", "<PERSON_>", "<_1>", "<1_1>", "<PERSON_1"):
        assert PLACEHOLDER_RE.fullmatch(text) is None


def test_entity_names_that_cannot_name_a_placeholder_are_refused() -> None:
    assert check_entity(e.DE_HEALTH_INSURANCE_NUMBER) == e.DE_HEALTH_INSURANCE_NUMBER
    for bad in ("person", "PER SON", "PERSON:1", "", "1PERSON", "PERSON>"):
        with pytest.raises(ValueError, match="cannot name a placeholder"):
            check_entity(bad)


@pytest.mark.parametrize(
    ("entity", "one", "other"),
    [
        (e.IBAN, "DE89 3704 0044 0532 0130 00", "de89370400440532013000"),
        (e.IBAN, "DE89-3704-0044-0532-0130-00", "DE89370400440532013000"),
        (e.DE_TAX_NUMBER, "21/815/08150", "2181508150"),
        (e.DE_TAX_ID, "12 345 678 901", "12345678901"),
        (e.CREDIT_CARD, "4111 1111-1111 1111", "4111111111111111"),
        (e.DE_ID_CARD, "l01x00t47", "L01X00T47"),
        (e.DE_TAX_ID, FULL_WIDTH_TAX_ID, "12345678901"),
        (e.PHONE_NUMBER, "+49 (0)30 1234567", "030/123 45 67"),
        (e.PHONE_NUMBER, "0049 171 1234567", "+49-171-1234567"),
        (e.EMAIL_ADDRESS, " Max.Mueller@Example.DE", "max.mueller@example.de"),
        (e.IP_ADDRESS, "2001:DB8:0:0::1", "2001:db8::1"),
        (e.PERSON, "Max   Müller", "max müller"),
        (e.PERSON, "Max\nMu\u0308ller", "Max Müller"),  # decomposed umlaut, line break
        (e.DE_LICENSE_PLATE, "M-AB 1234", "m ab-1234"),
        (e.HEALTH, "Diabetes  mellitus", "diabetes mellitus"),
    ],
)
def test_surface_forms_of_one_value_share_an_identity(entity: str, one: str, other: str) -> None:
    assert identity_key(entity, one) == identity_key(entity, other)


@pytest.mark.parametrize(
    ("entity", "one", "other"),
    [
        (e.IBAN, "DE89370400440532013000", "DE89370400440532013001"),
        (e.DE_LICENSE_PLATE, "M-AB 123", "MA-B 123"),  # district boundary matters
        (e.PHONE_NUMBER, "+49 30 1234567", "+43 30 1234567"),
        (e.PHONE_NUMBER, "+49 30 1234567 ext. 12", "+49 30 1234567 ext. 13"),
        (e.EMAIL_ADDRESS, "max@example.de", "max@example.com"),
        (e.SECRET, "sk-AbCdEf", "sk-abcdef"),  # tokens are case-sensitive
        (e.PERSON, "Max Müller", "Max Mueller"),  # a spelling is not a case variant
        ("CUSTOM_THING", "Abc", "abc"),  # unknown types keep case
    ],
)
def test_different_values_keep_different_identities(entity: str, one: str, other: str) -> None:
    assert identity_key(entity, one) != identity_key(entity, other)


def test_an_unparseable_phone_number_still_ignores_separators() -> None:
    assert identity_key(e.PHONE_NUMBER, "12-34 / 56") == identity_key(e.PHONE_NUMBER, "123456")


async def test_numbers_count_per_entity_type_and_stay_stable_across_turns() -> None:
    vault = MemoryPseudonymVault()
    first = await vault.assign(
        "t1",
        "c1",
        [
            (e.PERSON, "Max Müller"),
            (e.IBAN, "DE89 3704 0044 0532 0130 00"),
            (e.PERSON, "Erika Mustermann"),
            (e.PERSON, "Max Müller"),
        ],
    )
    assert first == ["<PERSON_1>", "<IBAN_1>", "<PERSON_2>", "<PERSON_1>"]
    second = await vault.assign(
        "t1",
        "c1",
        [(e.IBAN, "de89370400440532013000"), (e.PERSON, "Hans Meier"), (e.PERSON, "max müller")],
    )
    assert second == ["<IBAN_1>", "<PERSON_3>", "<PERSON_1>"]
    assert await vault.mapping("t1", "c1") == {
        "<PERSON_1>": "Max Müller",  # the first surface form seen
        "<IBAN_1>": "DE89 3704 0044 0532 0130 00",
        "<PERSON_2>": "Erika Mustermann",
        "<PERSON_3>": "Hans Meier",
    }


async def test_conversations_and_tenants_are_separate() -> None:
    vault = MemoryPseudonymVault()
    assert await vault.assign("t1", "c1", [(e.PERSON, "Anna")]) == ["<PERSON_1>"]
    assert await vault.assign("t1", "c2", [(e.PERSON, "Berta")]) == ["<PERSON_1>"]
    assert await vault.assign("t2", "c1", [(e.PERSON, "Carla")]) == ["<PERSON_1>"]
    assert await vault.mapping("t1", "c1") == {"<PERSON_1>": "Anna"}
    assert await vault.mapping("t1", "c2") == {"<PERSON_1>": "Berta"}
    assert await vault.mapping("t2", "c1") == {"<PERSON_1>": "Carla"}
    assert await vault.mapping("t2", "c2") == {}


async def test_the_same_value_as_two_entity_types_gets_two_placeholders() -> None:
    vault = MemoryPseudonymVault()
    names = await vault.assign(
        "t", "c", [(e.DE_TAX_ID, "12345678901"), (e.PHONE_NUMBER, "12345678901")]
    )
    assert names == ["<DE_TAX_ID_1>", "<PHONE_NUMBER_1>"]


async def test_concurrent_assignments_never_conflict() -> None:
    vault = MemoryPseudonymVault()
    people = [f"Person {i}" for i in range(30)]
    calls = [
        vault.assign("t", "c", [(e.PERSON, people[(i * 7 + j) % 30]) for j in range(5)])
        for i in range(40)
    ]
    results = await asyncio.gather(*calls)
    seen: dict[str, str] = {}
    for call, names in enumerate(results):
        for j, name in enumerate(names):
            value = people[(call * 7 + j) % 30]
            assert seen.setdefault(value, name) == name
    assert len(set(seen.values())) == len(seen) == 30
    assert sorted(seen.values()) == sorted(f"<PERSON_{n}>" for n in range(1, 31))


async def test_an_invalid_entity_assigns_nothing() -> None:
    vault = MemoryPseudonymVault()
    with pytest.raises(ValueError, match="cannot name a placeholder"):
        await vault.assign("t", "c", [(e.PERSON, "Anna"), ("bad type", "x")])
    assert await vault.mapping("t", "c") == {}
    assert await vault.assign("t", "c", []) == []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_conversations_expire_after_the_ttl_and_use_refreshes_it() -> None:
    clock = Clock()
    vault = MemoryPseudonymVault(ttl_seconds=100, clock=clock)
    await vault.assign("t", "c", [(e.PERSON, "Anna")])
    clock.now += 90
    assert await vault.mapping("t", "c") == {"<PERSON_1>": "Anna"}  # a use: refreshed
    clock.now += 90
    assert await vault.assign("t", "c", [(e.PERSON, "Berta")]) == ["<PERSON_2>"]
    clock.now += 101
    assert await vault.mapping("t", "c") == {}
    # Expired: numbering starts again, and nothing of the old conversation is held.
    assert await vault.assign("t", "c", [(e.PERSON, "Carla")]) == ["<PERSON_1>"]
    assert await vault.mapping("t", "c") == {"<PERSON_1>": "Carla"}


async def test_expired_conversations_are_swept_from_memory() -> None:
    clock = Clock()
    vault = MemoryPseudonymVault(ttl_seconds=100, clock=clock)
    for i in range(50):
        await vault.assign("t", f"c{i}", [(e.PERSON, "Anna")])
    assert len(vault) == 50
    clock.now += 200
    await vault.assign("t", "fresh", [(e.PERSON, "Berta")])
    assert len(vault) == 1


async def test_erase_forgets_the_conversation() -> None:
    vault = MemoryPseudonymVault()
    await vault.assign("t", "c", [(e.EMAIL_ADDRESS, "anna@example.de")])
    await vault.assign("t", "other", [(e.EMAIL_ADDRESS, "anna@example.de")])
    assert await vault.erase("t", "c") is True
    assert await vault.erase("t", "c") is False
    assert await vault.mapping("t", "c") == {}
    assert await vault.mapping("t", "other") == {"<EMAIL_ADDRESS_1>": "anna@example.de"}


def test_a_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        MemoryPseudonymVault(ttl_seconds=0)


async def test_erase_subject_forgets_its_conversations_in_every_tenant() -> None:
    vault = MemoryPseudonymVault()
    anna, bob = "a1" * 16, "b2" * 16  # subject_refs: opaque hex
    await vault.assign("t1", "c1", [(e.PERSON, "Anna")], subject_ref=anna)
    await vault.assign("t1", "c2", [(e.PERSON, "Anna")], anna)
    await vault.assign("t2", "c1", [(e.PERSON, "Anna")], subject_ref=anna)
    await vault.assign("t2", "c1", [(e.PERSON, "Berta")])  # a later turn without the subject
    await vault.assign("t1", "c3", [(e.PERSON, "Bob")], subject_ref=bob)
    await vault.assign("t1", "c4", [(e.PERSON, "Carla")])
    assert await vault.erase_subject(anna) == 3
    for tenant, conversation in [("t1", "c1"), ("t1", "c2"), ("t2", "c1")]:
        assert await vault.mapping(tenant, conversation) == {}
    assert await vault.mapping("t1", "c3") == {"<PERSON_1>": "Bob"}
    assert await vault.mapping("t1", "c4") == {"<PERSON_1>": "Carla"}
    assert anna not in vault._subjects  # the index goes too
    assert await vault.erase_subject(anna) == 0
    assert await vault.erase_subject("unknown") == 0
    assert await vault.erase_subject(bob) == 1
    assert len(vault) == 1
    assert vault._subjects == {}


async def test_the_subject_index_goes_with_its_conversations() -> None:
    clock = Clock()
    vault = MemoryPseudonymVault(ttl_seconds=100, clock=clock)
    subject = "c3" * 16
    await vault.assign("t", "erased", [(e.PERSON, "Anna")], subject_ref=subject)
    await vault.assign("t", "expired", [(e.PERSON, "Anna")], subject_ref=subject)
    await vault.assign("t", "swept", [(e.PERSON, "Anna")], subject_ref=subject)
    assert await vault.erase("t", "erased") is True
    assert vault._subjects == {subject: {("t", "expired"), ("t", "swept")}}
    clock.now += 101
    # Expired and started afresh without the subject: no longer the subject's conversation.
    await vault.assign("t", "expired", [(e.PERSON, "Berta")])
    assert vault._subjects == {}  # "swept" went in the sweep that assign ran
    assert await vault.erase_subject(subject) == 0
    assert await vault.mapping("t", "expired") == {"<PERSON_1>": "Berta"}
    # An expired conversation not yet swept is dropped but not counted as erased.
    await vault.assign("t", "late", [(e.PERSON, "Anna")], subject_ref=subject)
    clock.now += 101
    assert len(vault) == 2
    assert await vault.erase_subject(subject) == 0
    assert len(vault) == 1
    assert vault._subjects == {}


async def test_an_empty_assign_records_no_subject() -> None:
    vault = MemoryPseudonymVault()
    assert await vault.assign("t", "c", [], subject_ref="d4" * 16) == []
    assert await vault.erase_subject("d4" * 16) == 0
    assert len(vault) == 0
