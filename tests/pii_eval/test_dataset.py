"""The committed PII evaluation set: reproducible, correctly labelled, and as large as promised."""

from __future__ import annotations

import ast
import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from policies import entities as E
from tests.pii_eval import generate, templates
from tests.pii_eval import identifiers as ids

Record = dict[str, Any]


@pytest.fixture(scope="module")
def records() -> list[Record]:
    lines = generate.DATASET.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def spans_of(records: list[Record], kind: str) -> list[tuple[Record, dict[str, Any], str]]:
    return [(r, s, r["text"][s["start"] : s["end"]]) for r in records for s in r[kind]]


def test_regenerating_gives_the_committed_file() -> None:
    # A new python-stdnum or phonenumbers release may change what validates: then rerun
    # `python -m tests.pii_eval.generate`, review the diff and commit it.
    fresh = generate.dumps(generate.build())
    assert fresh == generate.DATASET.read_text(encoding="utf-8"), "dataset.jsonl is stale"


def test_generator_is_independent_of_the_implementation_under_test() -> None:
    """Only the entity names may come from ``policies``: never its recognizers or analyzer."""
    for path in Path(generate.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("policies"):
                assert node.module == "policies", path
                assert [a.name for a in node.names] == ["entities"], path
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("policies") for a in node.names), path


def test_records_have_the_documented_shape(records: list[Record]) -> None:
    assert len({r["id"] for r in records}) == len(records)
    for r in records:
        assert list(r) == ["id", "lang", "domain", "text", "entities", "lookalikes"]
        assert r["lang"] in ("de", "en")
        assert r["domain"] in templates.TEMPLATES[r["lang"]]
        for e in r["entities"]:
            assert list(e) == ["start", "end", "type"]
            assert e["type"] in E.ALL
        for x in r["lookalikes"]:
            assert list(x) == ["start", "end", "kind"]
            assert x["kind"] not in E.ALL


def test_spans_are_inside_trimmed_and_disjoint(records: list[Record]) -> None:
    for r in records:
        spans = sorted((s["start"], s["end"]) for s in r["entities"] + r["lookalikes"])
        for start, end in spans:
            piece = r["text"][start:end]
            assert 0 <= start < end <= len(r["text"]), r["id"]
            assert piece == piece.strip(), (r["id"], piece)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, r["id"]


def test_checkable_entities_validate_as_their_type_only(records: list[Record]) -> None:
    for r, e, text in spans_of(records, "entities"):
        if e["type"] in ids.CHECKABLE:
            assert ids.validates(e["type"], text), (r["id"], e["type"], text)
            assert not ids.other_types(e["type"], text), (r["id"], text)


SECRET_SHAPES = re.compile(
    r"sk-[A-Za-z0-9]{48}|sk-proj-[\w-]{56}|ghp_[A-Za-z0-9]{36}|glpat-[\w-]{20}"
    r"|xoxb-\d{12}-\d{13}-[A-Za-z0-9]{24}|[0-9a-f]{32}|AKIA[A-Z2-7]{16}|[A-Za-z0-9/+]{40}"
    r"|eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+|[\w-]{40}"
    r"|-----BEGIN EC PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END EC PRIVATE KEY-----"
)
NAME_WORD = re.compile(r"(?:[A-ZÄÖÜŞ][\w'-]*|de|van|den|von)")


def test_people_and_secrets_have_their_shape(records: list[Record]) -> None:
    for r, e, text in spans_of(records, "entities"):
        if e["type"] == E.PERSON:
            words = text.split()
            assert 1 <= len(words) <= 4, text
            assert all(NAME_WORD.fullmatch(w) for w in words), text
            assert words[0] not in ("Herr", "Frau", "Dr.", "Mr", "Ms", "Mrs", "Dr"), text
        if e["type"] == E.SECRET:
            assert SECRET_SHAPES.fullmatch(text), (r["id"], text)


def test_special_categories_are_phrases_without_articles(records: list[Record]) -> None:
    for r, e, text in spans_of(records, "entities"):
        if e["type"] in E.SPECIAL_CATEGORIES:
            assert not re.match(r"(?i)(?:eine?n?|an?|the|of|der|die|das) ", text), (r["id"], text)
            assert len(text.split()) <= 5, (r["id"], text)
            assert not re.search(r"\d{3}", text), (r["id"], text)


def test_lookalikes_validate_as_nothing(records: list[Record]) -> None:
    for r, x, text in spans_of(records, "lookalikes"):
        assert not ids.lookalike_hits(text), (r["id"], x["kind"], text)
        if x["kind"].startswith("invalid_"):
            entity = x["kind"].removeprefix("invalid_")
            assert not ids.validates(entity, text), (r["id"], text)


# Minimum instances per entity type (the task's floor; every type in entities.ALL appears).
MINIMUMS = {
    **dict.fromkeys(E.ALL, 10),
    **dict.fromkeys((E.DE_TAX_ID, E.IBAN, E.PHONE_NUMBER, E.EMAIL_ADDRESS), 40),
    **dict.fromkeys(E.CHECK_DIGIT_IDS - {E.DE_TAX_ID, E.IBAN}, 15),
    **dict.fromkeys((E.DE_ID_CARD, E.DE_PASSPORT, E.DE_LICENSE_PLATE, E.SECRET), 15),
    **dict.fromkeys((E.IP_ADDRESS, E.HEALTH), 15),
    E.PERSON: 100,
}


def test_counts_meet_the_minimums(records: list[Record]) -> None:
    counts = Counter(e["type"] for r in records for e in r["entities"])
    short = {t: counts[t] for t, n in MINIMUMS.items() if counts[t] < n}
    assert not short, short
    assert len(records) >= 400
    langs = Counter(r["lang"] for r in records)
    assert 0.4 <= langs["de"] / len(records) <= 0.6
    assert sum(len(r["lookalikes"]) for r in records) >= 300
    invalid = Counter(
        x["kind"] for r in records for x in r["lookalikes"] if "invalid_" in x["kind"]
    )
    assert len(invalid) >= 12, invalid
    assert min(invalid.values()) >= 5, invalid
    assert sum(len(t) for d in templates.TEMPLATES.values() for t in d.values()) >= 120
    assert sum(len(r["text"]) >= 900 for r in records) >= 40
    assert sum(not r["entities"] for r in records) >= 30
    assert sum(len(r["entities"]) >= 3 for r in records) >= 60


PHONE_SHAPES = {
    "+49 89 1234567": r"\+49 \d{2,4} \d{6,9}",
    "0171 2345678": r"0\d{2,4} \d{6,9}",
    "0171/2345678": r"0\d{2,4}/\d{6,9}",
    "(030) 12345678": r"\(0\d{2,4}\) \d{6,9}",
    "030-12345678": r"0\d{2,4}-\d{6,9}",
    "+49 (0)89 123456-78": r"\+49 \(0\)\d{2,4} \d{4,7}-\d{2}",
    "0049 171 2345678": r"0049 \d{2,4} \d{6,9}",
    "foreign": r"\+(?!49)\d{1,3}[ \d-]+",
}


def test_phone_numbers_come_in_every_common_format(records: list[Record]) -> None:
    phones = [t for _, e, t in spans_of(records, "entities") if e["type"] == E.PHONE_NUMBER]
    for name, shape in PHONE_SHAPES.items():
        assert sum(bool(re.fullmatch(shape, p)) for p in phones) >= 3, name


def test_identifier_variants_are_covered(records: list[Record]) -> None:
    found = spans_of(records, "entities")
    ibans = [t for _, e, t in found if e["type"] == E.IBAN]
    assert len({t[:2] for t in ibans}) >= 8
    assert any(" " in t for t in ibans)
    assert any(" " not in t for t in ibans)
    for doc in (E.DE_ID_CARD, E.DE_PASSPORT):
        lengths = Counter(len(t) for _, e, t in found if e["type"] == doc)
        assert lengths[9] >= 3, (doc, lengths)
        assert lengths[10] >= 3, (doc, lengths)
    titled = [
        r["text"][: e["start"]].split()[-1:]
        for r, e, _ in found
        if e["type"] == E.PERSON and e["start"] > 0
    ]
    assert sum(w[:1] in (["Herr"], ["Frau"], ["Dr."], ["Mr"], ["Ms"]) for w in titled) >= 20
