"""Event shapes: a token event's text read and rewritten as bytes, and only when that is
provably what parsing it would give (escapes decoded, anything unusual refused)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from gateway.privacy.answer import StreamRestoring
from gateway.privacy.event_shape import EventShape, EventShapes, shape_of

HEAD = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":['
TAIL = b',"logprobs":null,"finish_reason":null,"token_ids":null}]}\n\n'


def token(literal: bytes, head: bytes = HEAD, tail: bytes = TAIL) -> bytes:
    """A vLLM token event around a JSON string literal, written as it is."""
    return head + b'{"index":0,"delta":{"content":' + literal + b"}" + tail


def learned(event: bytes | None = None) -> EventShape:
    event = event or token(b'"Hal"')
    shape = shape_of(event, orjson.loads(event[6:]))
    assert shape is not None
    return shape


def test_a_token_event_teaches_the_shape_of_the_next() -> None:
    shape = learned()
    assert (shape.index, shape.field) == (0, "content")
    assert shape.text_of(token(b'"lo Welt"')) == "lo Welt"
    assert shape.text_of(token(b'""')) == ""
    text = 'sagt "Grüß dich"\n<'
    assert orjson.loads(shape.with_text(text)[6:]) == orjson.loads(token(orjson.dumps(text))[6:])
    assert shape.with_text("") == token(b'""')


@pytest.mark.parametrize(
    ("literal", "text"),
    [
        (b'"a\\u0040b.de"', "a@b.de"),  # an escaped "@" is an "@"
        (b'"\\uff11\\uff12"', "\uff11\uff12"),  # full-width digits, escaped
        (b'"\\u003cPERSON_1\\u003e"', "<PERSON_1>"),  # an escaped placeholder
        (b'"\\"quoted\\" back\\\\slash\\n"', '"quoted" back\\slash\n'),
        (json.dumps("Grüße").encode(), "Grüße"),  # every non-ASCII character escaped
        (b'"\\ud83d\\ude00"', "\U0001f600"),
    ],
)
def test_escaped_texts_are_decoded_not_skipped(literal: bytes, text: str) -> None:
    assert learned().text_of(token(literal)) == text


@pytest.mark.parametrize(
    "event",
    [
        token(b'"a","x":"b"'),  # an unescaped quote: not one string
        token(b'"a\nb"'),  # a raw control byte: not JSON
        token(b'"\xff"'),  # not UTF-8
        token(b'"\\ud800"'),  # a lone surrogate
        token(b'"\\q"'),  # no such escape
        token(b'"a"') + token(b'"b"'),  # two events in one chunk
        token(b'"a"').replace(b'"finish_reason":null', b'"finish_reason":"stop"'),
        token(b'"a"').replace(b'"index":0', b'"index":1'),  # another choice
        token(b'"a"', head=HEAD.replace(b'"c1"', b'"c2"')),  # another stream's envelope
        HEAD + b'{"index":0,"delta":{"content":"' + b"\n\n",  # prefix and suffix overlap
    ],
)
def test_anything_else_does_not_match_and_is_parsed(event: bytes) -> None:
    assert learned().text_of(event) is None


def _document(event: bytes) -> Any:
    return orjson.loads(event[6:])


@pytest.mark.parametrize(
    "event",
    [
        token(b'"a"').replace(b'"finish_reason":null', b'"finish_reason":"length"'),
        HEAD + b'{"index":0,"delta":{"tool_calls":[]}' + TAIL,
        HEAD + b'{"index":0,"delta":{"content":"a","reasoning_content":"b"}' + TAIL,
        HEAD + b'{"index":0,"text":"a","delta":{"content":"a"}' + TAIL,
        HEAD + b'{"index":"0","delta":{"content":"a"}' + TAIL,
        token(b'"a"').replace(b"}]}", b'},{"index":1,"delta":{"content":"b"}}]}'),
        token(b'"a\\u0040b"'),  # escaped: learnt from a later event
        token(b' "a"').replace(b'"content":', b'"content": '),  # spaced: not compact
        # The first "content" key is not the delta's: the probe finds out.
        b'data: {"content":"a",' + token(b'"a"')[len(b"data: {") :],
    ],
)
def test_only_plain_text_events_teach_a_shape(event: bytes) -> None:
    document = _document(event)
    before = orjson.dumps(document)
    assert shape_of(event, document) is None
    assert orjson.dumps(document) == before  # the probe leaves the document as it was


def test_completion_chunks_have_a_shape_too() -> None:
    head = HEAD.replace(b"chat.completion.chunk", b"text_completion")
    event = head + b'{"index":0,"text":"Hal","logprobs":null,"finish_reason":null}]}\n\n'
    shapes = EventShapes()
    shapes.learn(event, _document(event))
    found = shapes.match(event.replace(b'"Hal"', b'"lo"'))
    assert found is not None
    assert (found[0].field, found[1]) == ("text", "lo")


def test_restoring_decodes_escaped_placeholders_split_over_events() -> None:
    restoring = StreamRestoring({"<PERSON_1>": "Max Müller"})
    pieces = [b'""', b'"Hallo "', b'"\\u003c"', b'"PERSON"', b'"_"', b'"1"', b'"\\u003e!"']
    relayed = [restoring(token(p)) for p in pieces]
    texts = [orjson.loads(e[6:])["choices"][0]["delta"]["content"] for e in relayed]
    assert texts == ["", "Hallo ", "", "", "", "", "Max Müller!"]
    assert relayed[1] == token(b'"Hallo "')  # untouched events are relayed as they came
    assert restoring._shapes.match(token(b'"x"')) is not None  # without being parsed
