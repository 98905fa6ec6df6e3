"""Embeddings keep the distinctions names and identifiers carry: with the presets, each value
becomes a keyed surrogate of its own (``embedding_pseudonyms: surrogate``: a name for a name,
an IBAN for an IBAN), or, where a policy asks for ``stable``, a keyed pseudonym, instead of a
placeholder numbered per request (two invoices differing only in name and IBAN had become
one text, hence one vector)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from stdnum import iban as iban_number

from gateway.app import create_app
from policies.model import load_preset, parse_policy
from policies.pseudonym.stable import stable_pseudonym
from tests.unit.conftest import make_settings
from tests.unit.test_privacy_gateway import EchoEngine, _tenant

GDPR, STRICT, PLAIN = "sk-test-emb-gdpr-1", "sk-test-emb-strict-2", "sk-test-emb-plain-3"
STABLE_KEY = "sk-test-emb-stable-4"
INVOICE = "Rechnung 2026-118 an {name}, zahlbar auf IBAN {iban}, Betrag 1.250,00 EUR."
FIRST = INVOICE.format(name="Max Mustermann", iban="DE89 3704 0044 0532 0130 00")
SECOND = INVOICE.format(name="Erika Gabler", iban="DE02 1203 0000 0000 2020 51")
STABLE = re.compile(r"<[A-Z_]+_\d{12}>")
SENT_INVOICE = re.compile(
    r"Rechnung 2026-118 an (?P<name>\w+ \w+ \w+-\w+), zahlbar auf IBAN "
    r"(?P<iban>DE\d\d(?: \d{4}){4} \d\d), Betrag 1.250,00 EUR\."
)


@pytest.fixture
def engine() -> EchoEngine:
    return EchoEngine()


@pytest.fixture
def client(engine: EchoEngine, tmp_path: Path) -> Iterator[TestClient]:
    plain = tmp_path / "plain.yaml"  # a policy file that says nothing about embeddings
    plain.write_text("id: plain\nentities:\n  PERSON: {prompt: pseudonymize}\n")
    stable = tmp_path / "stable.yaml"  # one that asks for stable pseudonyms
    stable.write_text(
        "id: stable\nembedding_pseudonyms: stable\n"
        "entities:\n  PERSON: {prompt: pseudonymize}\n  IBAN: {prompt: pseudonymize}\n"
    )
    tenants = [
        _tenant("gdpr", GDPR, None),  # the default policy: gdpr-default
        _tenant("strict", STRICT, "public-sector-strict"),
        _tenant("plain", PLAIN, "plain"),
        _tenant("stable", STABLE_KEY, "stable"),
    ]
    files = [str(plain), str(stable)]
    settings = make_settings(tenants=tenants, privacy={"policy_files": files})
    app = create_app(settings, upstream_transport=httpx.MockTransport(engine))
    with TestClient(app) as test_client:
        yield test_client


def _embed(client: TestClient, key: str, texts: list[str]) -> None:
    body = {"model": "smollm2", "input": texts}
    answer = client.post("/v1/embeddings", json=body, headers={"authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text


def _values(sent: str) -> tuple[str, str]:
    """The payer and the IBAN an invoice reached the engine with."""
    found = SENT_INVOICE.fullmatch(sent)
    assert found is not None, sent
    return found["name"], found["iban"]


def test_two_invoices_stay_two_texts_with_a_name_and_an_iban_each(
    client: TestClient, engine: EchoEngine
) -> None:
    _embed(client, GDPR, [FIRST])
    _embed(client, GDPR, [SECOND])
    first, second = (body["input"][0] for body in engine.bodies)
    assert first != second
    for sent in (first, second):
        for value in ("Mustermann", "Gabler", "3704", "1203"):
            assert value not in sent
        iban = _values(sent)[1]  # after a name of four parts (surrogate.py): a valid IBAN
        assert iban_number.is_valid(iban)
    assert _values(first)[0] != _values(second)[0]


def test_the_same_value_gets_the_same_surrogate_in_every_request(
    client: TestClient, engine: EchoEngine
) -> None:
    spaced = FIRST.replace("DE89 3704 0044 0532 0130 00", "de89370400440532013000")
    _embed(client, GDPR, [FIRST, "Max Mustermann zahlt."])
    _embed(client, GDPR, [spaced])
    (first, alone), (again,) = (body["input"] for body in engine.bodies)
    assert first == again  # the IBAN written two ways is one value
    assert alone == f"{_values(first)[0]} zahlt."


def test_another_tenant_gets_other_surrogates(client: TestClient, engine: EchoEngine) -> None:
    _embed(client, GDPR, [FIRST])
    _embed(client, STRICT, [FIRST])  # public-sector-strict: surrogates as well
    mine, theirs = (_values(body["input"][0]) for body in engine.bodies)
    assert not set(mine) & set(theirs)


def test_a_policy_may_ask_for_stable_pseudonyms(client: TestClient, engine: EchoEngine) -> None:
    _embed(client, STABLE_KEY, [FIRST])
    _embed(client, STABLE_KEY, [SECOND])
    first, second = (body["input"][0] for body in engine.bodies)
    assert first != second
    for sent in (first, second):
        assert len(STABLE.findall(sent)) == 2, sent


def test_a_policy_that_does_not_ask_keeps_numbered_placeholders(
    client: TestClient, engine: EchoEngine
) -> None:
    _embed(client, PLAIN, [FIRST])
    assert "<PERSON_1>" in engine.bodies[-1]["input"][0]


def test_pseudonyms_depend_on_key_tenant_type_and_identity() -> None:
    key, other = b"k" * 32, b"o" * 32
    one = stable_pseudonym(key, "t", "IBAN", "DE89 3704 0044 0532 0130 00")
    assert one == stable_pseudonym(key, "t", "IBAN", "de89370400440532013000")
    assert STABLE.fullmatch(one)
    assert one != stable_pseudonym(other, "t", "IBAN", "DE89370400440532013000")
    assert one != stable_pseudonym(key, "u", "IBAN", "DE89370400440532013000")
    assert one != stable_pseudonym(key, "t", "IBAN", "DE02120300000000202051")


def test_the_choice_is_part_of_the_version_only_when_made() -> None:
    plain = "id: p\nentities:\n  PERSON: {prompt: pseudonymize}\n"
    said = plain + "embedding_pseudonyms: conversation\n"
    stable = plain + "embedding_pseudonyms: stable\n"
    assert parse_policy(plain).version == parse_policy(said).version
    assert parse_policy(plain).version != parse_policy(stable).version
    for preset in ("gdpr-default", "contact-centre", "public-sector-strict"):
        assert load_preset(preset).embedding_pseudonyms == "surrogate"
