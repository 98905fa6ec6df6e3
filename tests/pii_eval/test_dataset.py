"""The committed PII evaluation sets: reproducible, correctly labelled, and as large as promised.

Two sets, one set of checks: the development set (``dataset.jsonl``, which the recognizers were
tuned on) and the held-out set (``holdout.jsonl``, written blind to them, with other
sentences and other people). Checks that hold for both are parametrized over ``DATASETS``;
minimum counts and format coverage are stated per set.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from policies import entities as E
from tests.pii_eval import generate, generate_holdout, templates, templates_holdout
from tests.pii_eval import identifiers as ids

Record = dict[str, Any]

# The secrets each generator draws, as printed (see generate.api_key, generate_holdout.API_KEYS).
PEM = r"-----BEGIN ({0})-----\n[A-Za-z0-9+/=\n]+\n-----END \1-----"
DEV_SECRETS = (
    r"sk-[A-Za-z0-9]{48}|sk-proj-[\w-]{56}|ghp_[A-Za-z0-9]{36}|glpat-[\w-]{20}"
    r"|xoxb-\d{12}-\d{13}-[A-Za-z0-9]{24}|[0-9a-f]{32}|AKIA[A-Z2-7]{16}|[A-Za-z0-9/+]{40}"
    r"|eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+|[\w-]{40}|" + PEM.format("EC PRIVATE KEY")
)
HOLDOUT_SECRETS = (
    r"sk_live_[A-Za-z0-9]{24}|AIza[\w-]{35}|hf_[A-Za-z]{34}|sk-ant-api03-[\w-]{93}AA"
    r"|npm_[A-Za-z0-9]{36}|github_pat_11[A-Z0-9]{20}_[A-Za-z0-9]{59}|sk-[A-Za-z0-9]{48}"
    r"|xoxp-\d{11}-\d{11}-\d{12}-[0-9a-f]{32}|(?:AKIA|ASIA)[A-Z2-7]{16}|[A-Za-z0-9/+]{40}"
    r"|[\w-]{43}|ya29\.[\w-]{120}|eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+|[\w!#%&*?-]{14,20}|"
    + PEM.format("RSA PRIVATE KEY|PRIVATE KEY|OPENSSH PRIVATE KEY")
)


@dataclass(frozen=True)
class DataSet:
    name: str
    path: Path
    build: Callable[[], list[Record]]
    templates: dict[str, dict[str, tuple[str, ...]]]
    secrets: re.Pattern[str]


DATASETS = (
    DataSet("dev", generate.DATASET, generate.build, templates.TEMPLATES, re.compile(DEV_SECRETS)),
    DataSet(
        "holdout",
        generate_holdout.HOLDOUT,
        generate_holdout.build,
        templates_holdout.TEMPLATES,
        re.compile(HOLDOUT_SECRETS),
    ),
)


def load(path: Path) -> list[Record]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def dev_records() -> list[Record]:
    return load(generate.DATASET)


@pytest.fixture(scope="module")
def holdout_records() -> list[Record]:
    return load(generate_holdout.HOLDOUT)


@pytest.fixture(params=DATASETS, ids=[d.name for d in DATASETS])
def dataset(request: pytest.FixtureRequest) -> DataSet:
    param: DataSet = request.param
    return param


@pytest.fixture
def records(dataset: DataSet, request: pytest.FixtureRequest) -> list[Record]:
    loaded: list[Record] = request.getfixturevalue(f"{dataset.name}_records")
    return loaded


def spans_of(records: list[Record], kind: str) -> list[tuple[Record, dict[str, Any], str]]:
    return [(r, s, r["text"][s["start"] : s["end"]]) for r in records for s in r[kind]]


def test_regenerating_gives_the_committed_file(dataset: DataSet) -> None:
    # A new python-stdnum or phonenumbers release may change what validates: then rerun
    # `python -m tests.pii_eval.generate` (or `generate_holdout`), review the diff, commit it.
    fresh = generate.dumps(dataset.build())
    assert fresh == dataset.path.read_text(encoding="utf-8"), f"{dataset.path.name} is stale"


def test_generator_is_independent_of_the_implementation_under_test() -> None:
    """Only the entity names may come from ``policies``: never its recognizers or analyzer."""
    for path in Path(generate.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("policies"):
                assert node.module == "policies", path
                assert [a.name for a in node.names] == ["entities"], path
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("policies") for a in node.names), path


def test_records_have_the_documented_shape(dataset: DataSet, records: list[Record]) -> None:
    assert len({r["id"] for r in records}) == len(records)
    for r in records:
        assert list(r) == ["id", "lang", "domain", "text", "entities", "lookalikes"]
        assert r["lang"] in ("de", "en")
        assert r["domain"] in dataset.templates[r["lang"]]
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


PARTICLES = ("de", "van", "den", "von", "da")


def is_name_word(word: str) -> bool:
    """A capitalised word (any script's capitals: Ç, É, Ł ...) or a surname particle."""
    return word in PARTICLES or (word[0].isupper() and bool(re.fullmatch(r"[\w'-]+", word)))


def test_people_and_secrets_have_their_shape(dataset: DataSet, records: list[Record]) -> None:
    for r, e, text in spans_of(records, "entities"):
        if e["type"] == E.PERSON:
            # "Surname, Given" (forms, tables) is one span; the comma only after the surname.
            words = re.sub(r"^([^,]+), (?=\S)", r"\1 ", text).split()
            assert 1 <= len(words) <= 5, text
            assert all(is_name_word(w) for w in words), text
            assert words[0] not in ("Herr", "Frau", "Dr.", "Mr", "Ms", "Mrs", "Dr"), text
        if e["type"] == E.SECRET:
            assert dataset.secrets.fullmatch(text), (r["id"], text)


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


def test_counts_meet_the_minimums(dev_records: list[Record]) -> None:
    records = dev_records
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


def test_phone_numbers_come_in_every_common_format(dev_records: list[Record]) -> None:
    phones = [t for _, e, t in spans_of(dev_records, "entities") if e["type"] == E.PHONE_NUMBER]
    for name, shape in PHONE_SHAPES.items():
        assert sum(bool(re.fullmatch(shape, p)) for p in phones) >= 3, name


def test_identifier_variants_are_covered(dev_records: list[Record]) -> None:
    found = spans_of(dev_records, "entities")
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


# ---- the held-out set ---------------------------------------------------------------------------
HOLDOUT_MINIMUMS = {
    **dict.fromkeys(E.ALL, 10),
    **dict.fromkeys((E.DE_TAX_ID, E.IBAN, E.PHONE_NUMBER, E.EMAIL_ADDRESS, E.PERSON), 25),
}


def test_holdout_counts_meet_the_minimums(holdout_records: list[Record]) -> None:
    records = holdout_records
    counts = Counter(e["type"] for r in records for e in r["entities"])
    short = {t: counts[t] for t, n in HOLDOUT_MINIMUMS.items() if counts[t] < n}
    assert not short, short
    assert len(records) >= 250
    assert sum(len(r["lookalikes"]) for r in records) >= 250
    langs = Counter(r["lang"] for r in records)
    assert 0.4 <= langs["de"] / len(records) <= 0.6
    for lang, domains in templates_holdout.TEMPLATES.items():
        assert len(domains) >= 18
        assert sum(len(t) for t in domains.values()) >= 90, lang
        assert {r["domain"] for r in records if r["lang"] == lang} == set(domains)
    invalid = {x["kind"] for r in records for x in r["lookalikes"] if "invalid_" in x["kind"]}
    assert len(invalid) >= 8, invalid
    assert sum(len(r["text"]) >= 900 for r in records) >= 30
    assert sum(not r["entities"] for r in records) >= 10


def _whole_word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(name)}(?!\w)", re.IGNORECASE)


def test_holdout_is_disjoint_from_the_development_set(
    dev_records: list[Record], holdout_records: list[Record]
) -> None:
    """Other people, other sentences: the held-out scores must not profit from tuning."""
    dev_names = {g for g, _ in generate.GIVEN} | set(generate.SURNAMES)
    new_given = {g for g, _ in templates_holdout.GIVEN}
    assert len(new_given) >= 60
    assert len(set(templates_holdout.SURNAMES)) >= 60
    assert not dev_names & (new_given | set(templates_holdout.SURNAMES))
    people = [t for _, e, t in spans_of(holdout_records, "entities") if e["type"] == E.PERSON]
    for name in dev_names:
        pattern = _whole_word(name)
        assert not any(pattern.search(p) for p in people), name
    dev_templates = {t for d in templates.TEMPLATES.values() for ts in d.values() for t in ts}
    new_templates = [
        t for d in templates_holdout.TEMPLATES.values() for ts in d.values() for t in ts
    ]
    assert not dev_templates & set(new_templates)
    dev_texts = {r["text"] for r in dev_records}
    assert not any(r["text"] in dev_texts for r in holdout_records)


def test_holdout_uses_formats_the_dev_set_lacks(holdout_records: list[Record]) -> None:
    by_type: dict[str, list[str]] = {}
    for _, e, text in spans_of(holdout_records, "entities"):
        by_type.setdefault(e["type"], []).append(text)
    phones = by_type[E.PHONE_NUMBER]
    new_shape = [p for p in phones if not any(re.fullmatch(s, p) for s in PHONE_SHAPES.values())]
    assert len(new_shape) >= 0.3 * len(phones), len(new_shape)
    ibans = by_type[E.IBAN]
    assert len({t[:2].upper() for t in ibans}) >= 12
    assert any(t[:2].islower() for t in ibans)
    assert any(" " not in t for t in ibans)
    tax_ids = by_type[E.DE_TAX_ID]
    assert sum(bool(re.fullmatch(r"\d{3} \d{3} \d{3} \d{2}", t)) for t in tax_ids) >= 5
    people = by_type[E.PERSON]
    assert sum("," in p for p in people) >= 10  # "Surname, Given"
    assert sum(any(len(w) > 2 and w.isupper() for w in p.split()) for p in people) >= 5
    kinds = {x["kind"] for r in holdout_records for x in r["lookalikes"]}
    assert set(generate_holdout.EXTRA_LOOKALIKES) <= kinds
