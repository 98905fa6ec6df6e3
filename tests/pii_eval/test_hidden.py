"""The hidden-field set: reproducible, and every field it uses reaches the analyzer."""

from __future__ import annotations

import json

from loadtest.pii_hidden import extracted
from tests.pii_eval.generate_hidden import FIELDS, HIDDEN, generate


def test_the_file_is_what_the_generator_makes() -> None:
    lines = HIDDEN.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == generate()


def test_every_field_of_the_set_is_handed_to_the_analyzer_by_the_gateway() -> None:
    cases = [json.loads(line) for line in HIDDEN.read_text(encoding="utf-8").splitlines()]
    assert {c["messages"][0]["field"] for c in cases} == set(FIELDS)
    for case in cases:
        text, field = case["messages"][0]["text"], case["messages"][0]["field"]
        assert extracted(field, text) == text, field
