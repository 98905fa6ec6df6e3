"""The committed adversarial set: reproducible, correctly labelled, every case carries its trick.

``adversarial.jsonl`` (``python -m tests.pii_eval.generate_adversarial``) holds obfuscated
values and look-alikes obfuscated the same way. Checked here: the file is what the generator
writes, the schema (a case is a list of texts, each with its request ``field``), spans, that
each gold value is valid once its tricks are undone and each look-alike is still valid as
nothing, that every case really uses its category's trick, and the counts.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from collections import Counter
from typing import Any

import pytest

from policies import entities as E
from tests.pii_eval import generate_adversarial as adv
from tests.pii_eval import identifiers as ids

Record = dict[str, Any]
FIELD = re.compile(r"[a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*")


@pytest.fixture(scope="module")
def cases() -> list[Record]:
    text = adv.ADVERSARIAL.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def spans(cases: list[Record], kind: str) -> list[tuple[Record, dict[str, Any], str]]:
    return [
        (c, s, m["text"][s["start"] : s["end"]])
        for c in cases
        for m in c["messages"]
        for s in m[kind]
    ]


def test_regenerating_gives_the_committed_file() -> None:
    # A new python-stdnum or phonenumbers release may change what validates: then rerun
    # `python -m tests.pii_eval.generate_adversarial`, review the diff, commit it.
    fresh = adv.dumps(adv.build())
    assert fresh == adv.ADVERSARIAL.read_text(encoding="utf-8"), "adversarial.jsonl is stale"


def test_cases_have_the_documented_shape(cases: list[Record]) -> None:
    assert len({c["id"] for c in cases}) == len(cases)
    for c in cases:
        assert list(c) == ["id", "lang", "category", "trick", "messages"]
        assert c["lang"] in ("de", "en")
        assert c["category"] in adv.CATEGORIES
        assert c["trick"]
        assert c["messages"]
        for m in c["messages"]:
            assert list(m) == ["field", "text", "entities", "lookalikes"]
            assert FIELD.fullmatch(m["field"]), m["field"]
            for e in m["entities"]:
                assert list(e) == ["start", "end", "type"]
                assert e["type"] in E.ALL
            for x in m["lookalikes"]:
                assert list(x) == ["start", "end", "kind"]
                assert x["kind"] not in E.ALL


def test_hidden_field_is_reserved_not_yet_filled(cases: list[Record]) -> None:
    assert "hidden_field" in adv.RESERVED
    assert "hidden_field" not in {c["category"] for c in cases}


def test_spans_are_inside_trimmed_and_disjoint(cases: list[Record]) -> None:
    for c in cases:
        for m in c["messages"]:
            ranges = sorted((s["start"], s["end"]) for s in m["entities"] + m["lookalikes"])
            for start, end in ranges:
                piece = m["text"][start:end]
                assert 0 <= start < end <= len(m["text"]), c["id"]
                assert piece == piece.strip(), (c["id"], piece)
            for (_, end), (start, _) in itertools.pairwise(ranges):
                assert end <= start, c["id"]


def decoded(blob: str) -> str:
    body = blob.replace("\n", "").rstrip("=")
    padded = body + "=" * (-len(body) % 4)
    return base64.b64decode(padded, altchars=b"-_" if "-" in body or "_" in body else None).decode()


def encoded_values(blob: str) -> list[str]:
    """The values in a blob's text: a JSON object's, or what follows "label: "."""
    inner = decoded(blob)
    if inner.startswith("{"):
        return [str(v) for v in json.loads(inner).values()]
    return [inner.split(": ", 1)[1]]


def test_gold_values_are_valid_once_the_tricks_are_undone(cases: list[Record]) -> None:
    for c in cases:
        values = [
            (e["type"], m["text"][e["start"] : e["end"]])
            for m in c["messages"]
            for e in m["entities"]
        ]
        if c["category"] == "split_messages" and values:
            entity = values[0][0]
            assert {t for t, _ in values} == {entity}
            parts = [adv.undo(v) for _, v in values]
            joined = ("".join(parts), " ".join(parts))
            if entity in ids.CHECKABLE:
                assert any(ids.validates(entity, j) for j in joined), (c["id"], parts)
            continue
        for entity, value in values:
            if c["category"] == "base64":
                found = encoded_values(value)
                assert entity not in ids.CHECKABLE or any(
                    ids.validates(entity, v) for v in found
                ), (c["id"], found)
            elif entity in ids.CHECKABLE:
                clean = adv.undo(value)
                assert ids.validates(entity, clean), (c["id"], entity, clean)
                assert not ids.other_types(entity, clean), (c["id"], clean)


def test_lookalikes_validate_as_nothing_once_the_tricks_are_undone(cases: list[Record]) -> None:
    for c, x, text in spans(cases, "lookalikes"):
        if c["category"] == "base64":
            if x["kind"] == "encoded_text":
                assert not ids.lookalike_hits(decoded(text)) - {E.PHONE_NUMBER}, c["id"]
            continue
        assert adv.clean(x["kind"], text), (c["id"], x["kind"], text)
        if x["kind"].startswith("invalid_"):
            assert not ids.validates(x["kind"].removeprefix("invalid_"), adv.undo(text)), c["id"]


FULLWIDTH = re.compile("[\uff01-\uff5e]")
TRICKS = {
    "zero_width": lambda t: any(ch in t for ch in adv.INVISIBLE),
    "soft_hyphen": lambda t: adv.SOFT_HYPHEN in t,
    "fullwidth": lambda t: FULLWIDTH.search(t) is not None,
    "confusable": lambda t: any(ch in adv._UNTWIN for ch in t),
    "dash_groups": lambda t: "-" in t,
    "unicode_dash": lambda t: any(ch in t for ch in adv.DASHES),
    "unicode_space": lambda t: any(ch in t for ch in adv.SPACES),
    "mixed": lambda t: FULLWIDTH.search(t) is not None and any(ch in t for ch in adv.INVISIBLE),
}


def test_every_value_carries_its_categorys_trick(cases: list[Record]) -> None:
    for c, _, text in spans(cases, "entities") + spans(cases, "lookalikes"):
        if c["category"] in TRICKS:
            assert TRICKS[c["category"]](text), (c["id"], c["category"], text)
        elif c["category"] == "base64":
            try:
                decoded(text)
            except (binascii.Error, UnicodeDecodeError):
                assert not any(m["entities"] for m in c["messages"]), c["id"]  # binary negatives
        else:
            assert len(c["messages"]) >= 2, c["id"]


def test_counts_cover_every_category_in_both_languages(cases: list[Record]) -> None:
    assert len(cases) >= 300
    positives = Counter(c["category"] for c in cases if any(m["entities"] for m in c["messages"]))
    lookalikes = Counter(
        c["category"] for c in cases for m in c["messages"] for _ in m["lookalikes"]
    )
    for category, spec in adv.CATEGORIES.items():
        assert positives[category] >= min(spec.cases, 20), category
        assert lookalikes[category] >= 15, category
        langs = {c["lang"] for c in cases if c["category"] == category}
        assert langs == {"de", "en"}, category
    types = Counter(e["type"] for c in cases for m in c["messages"] for e in m["entities"])
    for entity in (E.IBAN, E.DE_TAX_ID, E.PHONE_NUMBER, E.EMAIL_ADDRESS, E.CREDIT_CARD, E.SECRET):
        assert types[entity] >= 20, (entity, types[entity])
    assert sum(len(c["messages"]) > 1 for c in cases) >= 20
