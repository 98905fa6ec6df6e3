"""Masking that keeps JSON texts JSON (``policies/jsontext.py``) and the types a schema allows
at a path (``policies/schema_types.py``).

Random JSON documents (nested objects and arrays, card numbers as numbers and inside strings,
quotes, backslashes, escapes, non-ASCII keys), serialised compactly, spaced or indented, are
cut into pieces where the stream guard may cut them and rewritten piece by piece: the result
is always JSON, and what was masked is exactly what a walk of the document expects.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from policies.jsontext import JsonCursor, Path
from policies.schema_types import lookup, types_at
from policies.spans import Span

CARDS = (4111111111111111, 5500000000000004)
CARD_RE = re.compile(r"(?<![\w.\-])(?:4111111111111111|5500000000000004)(?![\w.])")
KEYS = ["card", "iban", "a b", 'q"uote', "back\\slash", "über", "", "nested"]
STRINGS = ["Karte 4111111111111111 gesperrt", 'Max "Maxi" Muster', "C:\\temp\\", "a\nb\tc", "ü€𝄞"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**18), 10**18),
    st.sampled_from(CARDS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(STRINGS),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=16,
)
FORMS = [
    {"ensure_ascii": False},
    {"ensure_ascii": True},
    {"separators": (",", ":")},
    {"indent": 2, "ensure_ascii": False},
]


def _masked(value: Any) -> Any:
    """What masking every card number makes of a document."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and value in CARDS:
        return "<CREDIT_CARD>"
    if isinstance(value, str):
        return CARD_RE.sub("<CREDIT_CARD>", value)
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    return value


def _card_paths(value: Any, path: Path = ()) -> list[Path]:
    if isinstance(value, int) and not isinstance(value, bool) and value in CARDS:
        return [path]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _card_paths(v, (*path, i))]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _card_paths(v, (*path, k))]
    return []


def _bare_runs(text: str) -> list[tuple[int, int]]:
    """Where bare values are (outside strings): the guard never cuts inside one."""
    runs: list[tuple[int, int]] = []
    for found in re.finditer(r'"(?:[^"\\]|\\.)*"|[^\s{}\[\]:,"]+', text):
        if not found.group().startswith('"'):
            runs.append(found.span())
    return runs


def _rewrite_in_pieces(
    text: str, spans: list[Span], cuts: list[int], paths: list[Path] | None = None
) -> str:
    cursor = JsonCursor()

    def bare(path: Path, mask: str) -> str:
        if paths is not None:
            paths.append(path)
        return json.dumps(mask)

    out: list[str] = []
    edges = [0, *sorted(set(cuts)), len(text)]
    for start, end in itertools.pairwise(edges):
        mine = [
            (Span(s.start - start, s.end - start, s.entity, 1.0), "<CREDIT_CARD>")
            for s in spans
            if start <= s.start and s.end <= end
        ]
        out.append(cursor.rewrite(text[start:end], mine, bare))
    return "".join(out)


def _allowed_cuts(text: str, spans: list[Span], candidates: list[int]) -> list[int]:
    blocked = [*_bare_runs(text), *((s.start, s.end) for s in spans)]
    return [c for c in candidates if not any(a < c < b for a, b in blocked)]


@settings(max_examples=300, deadline=None)
@given(document=DOCUMENTS, form=st.sampled_from(FORMS), data=st.data())
def test_masked_card_numbers_leave_the_document_json_and_nothing_else_changed(
    document: Any, form: dict[str, Any], data: st.DataObject
) -> None:
    text = json.dumps(document, **form)
    spans = [Span(m.start(), m.end(), "CREDIT_CARD", 1.0) for m in CARD_RE.finditer(text)]
    candidates = data.draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=8))
    paths: list[Path] = []
    out = _rewrite_in_pieces(text, spans, _allowed_cuts(text, spans, candidates), paths)
    assert json.loads(out) == _masked(document)
    assert sorted(map(repr, paths)) == sorted(map(repr, _card_paths(document)))


@settings(max_examples=300, deadline=None)
@given(document=DOCUMENTS, form=st.sampled_from(FORMS), data=st.data())
def test_any_spans_anywhere_leave_the_document_json(
    document: Any, form: dict[str, Any], data: st.DataObject
) -> None:
    # Spans the analyzer could never return (across quotes, structure, escapes, keys): the
    # structure survives all of them.
    text = json.dumps(document, **form)
    points = sorted(set(data.draw(st.lists(st.integers(0, len(text)), max_size=10))))
    spans = [Span(a, b, "X", 1.0) for a, b in zip(points[::2], points[1::2], strict=False) if a < b]
    candidates = data.draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=6))
    out = _rewrite_in_pieces(text, spans, _allowed_cuts(text, spans, candidates))
    json.loads(out)


@settings(max_examples=200, deadline=None)
@given(document=DOCUMENTS, form=st.sampled_from(FORMS), data=st.data())
def test_fed_in_any_pieces_the_cursor_knows_where_it_is(
    document: Any, form: dict[str, Any], data: st.DataObject
) -> None:
    # Pieces cut anywhere (inside escapes and keys too), as a stream's tokens arrive: at the
    # end the cursor is back at the top level, and a card's path is known when it comes.
    text = json.dumps({"wrap": document, "card": CARDS[0]}, **form)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=12))))
    start = CARD_RE.search(text[text.rindex('"card"') :])
    assert start is not None
    at = text.rindex('"card"') + start.start()
    cursor = JsonCursor()
    edges = [0, *[c for c in cuts if c < at], at]
    for a, b in itertools.pairwise(edges):
        cursor.feed(text[a:b])
    seen: list[Path] = []

    def bare(path: Path, mask: str) -> str:
        seen.append(path)
        return '"x"'

    cursor.rewrite(text[at:], [(Span(0, 16, "CREDIT_CARD", 1.0), "<CREDIT_CARD>")], bare)
    assert seen == [("card",)]
    assert cursor.path == ()
    assert not cursor.in_string


def test_a_span_never_cuts_an_escape_sequence() -> None:
    text = json.dumps({"name": 'Jürgen "Jo" Groß\\'}, ensure_ascii=True)
    inner = text.index("J")
    for start in range(inner, inner + 12):
        for end in range(start + 1, len(text) - 2):
            out = JsonCursor().rewrite(text, [(Span(start, end, "X", 1.0), "<X>")], _never)
            assert "<X>" in json.loads(out)["name"]


def test_an_escape_split_between_two_pieces_is_never_cut() -> None:
    # Every cut, every span in the first piece: a backslash ending a piece stays one with
    # the character that completes it in the next (found by the property above).
    text = json.dumps({"a": 'x\\y"z', "b": "\u00fc\n"}, ensure_ascii=True)
    for cut in range(1, len(text)):
        for start in range(cut):
            for end in range(start + 1, cut + 1):
                out = _rewrite_in_pieces(text, [Span(start, end, "X", 1.0)], [cut])
                json.loads(out)


def test_bare_words_between_spaces_are_replaced_once() -> None:
    # Not JSON (a model that ignored JSON mode): a value over several bare words is one.
    text = "Die Karte 4111 1111 1111 1111 ist gesperrt."
    span = Span(10, 29, "CREDIT_CARD", 1.0)
    out = JsonCursor().rewrite(text, [(span, "<CREDIT_CARD>")], lambda p, m: json.dumps(m))
    assert out == 'Die Karte "<CREDIT_CARD>" ist gesperrt.'


def _never(path: Path, mask: str) -> str:
    raise AssertionError("no bare value here")


# -- which types a schema allows at a path -------------------------------------------------


class Card(BaseModel):
    number: int | None
    holder: str
    alt: int | str


class Payment(BaseModel):
    card: int
    cards: list[Card]
    limits: dict[str, int]
    maybe: Card | None = None


PAYMENT = Payment.model_json_schema()


@pytest.mark.parametrize(
    ("path", "types", "shown"),
    [
        (("card",), {"integer"}, "card"),
        (("cards", 3, "number"), {"integer", "null"}, "cards.3.number"),
        (("cards", 0, "alt"), {"integer", "string"}, "cards.0.alt"),
        (("limits", "Max Mustermann"), {"integer"}, "limits.*"),  # a made-up key: not shown
        (("maybe", "holder"), {"string"}, "maybe.holder"),
        (("unknown",), None, "*"),  # the document left the schema: it cannot say
    ],
)
def test_types_at_paths_of_a_pydantic_schema(
    path: Path, types: set[str] | None, shown: str
) -> None:
    allowed, named = lookup(PAYMENT, path)
    assert allowed == (None if types is None else frozenset(types))
    assert named == shown


@pytest.mark.parametrize(
    ("schema", "path", "types"),
    [
        (True, ("a", 1), None),
        ({"type": "object"}, ("a",), None),
        ({"type": "object", "additionalProperties": False}, ("a",), None),
        ({"properties": {"a": {"type": "integer", "nullable": True}}}, ("a",), {"integer", "null"}),
        ({"properties": {"a": {"enum": [1, "x"]}}}, ("a",), {"integer", "string"}),
        ({"properties": {"a": {"type": ["integer", "string"], "const": 4}}}, ("a",), {"integer"}),
        ({"patternProperties": {"^n": {"type": "number"}}}, ("num",), {"number"}),
        ({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, (0,), {"string"}),
        ({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, (5,), {"integer"}),
        ({"items": [{"type": "null"}], "additionalItems": {"type": "boolean"}}, (1,), {"boolean"}),
        ({"allOf": [{"type": ["integer", "null"]}, {"type": "integer"}]}, (), {"integer"}),
        ({"$ref": "https://example.org/schema.json"}, ("a",), None),  # never fetched
        ({"$defs": {"x": {"$ref": "#/$defs/x"}}, "$ref": "#/$defs/x"}, (), None),  # a cycle
        ({"$defs": {"x": {"anyOf": [{"$ref": "#/$defs/x"}]}}, "$ref": "#/$defs/x"}, ("a",), None),
    ],
)
def test_types_at_reads_what_decides_a_place_and_errs_towards_anything(
    schema: Any, path: Path, types: set[str] | None
) -> None:
    assert types_at(schema, path) == (None if types is None else frozenset(types))
