"""A stream's plain text events, read and rewritten as bytes: no JSON parse per token.

An engine streams an answer as events that differ only in their text: vLLM writes
``data: {"id":"chatcmpl-1",...,"choices":[{"index":0,"delta":{"content":"Hal"},
"logprobs":null,"finish_reason":null}]}`` for every token, the same bytes around ``Hal``.
Once one such event has been parsed, the bytes before and after its text are known: its
*shape*. A later event that is exactly those bytes around a valid JSON string body is a
valid event whose document differs from the parsed one in that text only (the JSON grammar
sees the same tokens, one string's value changed), so the text is all a policy layer needs
to read, and writing another text in its place all it needs to write: two byte comparisons
and a decode, where a parse and a re-serialisation cost several times as much.

Only the shape of a *plain* text event is learned: one choice, no ``finish_reason``, and no
other field the policy layers read or rewrite (the ``delta`` holds ``content`` and at most a
``role``, or the choice holds ``text``). Which string in the document the bytes are is
proven once, when the shape is learned, by parsing the shape with a probe text in it. Any
other event (the first and the last, usage, errors, tool calls, several events in one
chunk, a body with an unescaped quote, a control byte or invalid UTF-8) does not match and
is parsed as before: the parsing path stays the reference, and a shape only skips work
whose outcome it proves.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

# A body without these bytes decodes, as UTF-8, to its JSON string value; with them it is
# decoded (and validated) as JSON: escapes (``\u0040`` is "@"), or not a string at all.
_NOT_VERBATIM = re.compile(rb'["\\\x00-\x1f]')
_DELTA_KEYS = frozenset({"content", "role"})
_PROBE = "\x00probe"  # a text no answer holds, so it cannot already sit in the document
_MAX_SHAPES = 8  # one per choice of an ``n > 1`` request, within reason


class EventShape:
    """The bytes around the text of one choice's plain text events."""

    __slots__ = ("_at", "_least", "empty", "field", "index", "prefix", "suffix")

    def __init__(self, index: int, field: str, prefix: bytes, suffix: bytes) -> None:
        self.index = index  # the choice
        self.field = field  # "content" (a chat delta's) or "text" (a completion choice's)
        self.prefix = prefix  # ``data: {...`` up to the text's opening quote, included
        self.suffix = suffix  # from the closing quote to the end of the event
        self.empty = prefix + suffix  # the event with no text (held back)
        self._at = len(prefix)
        self._least = len(prefix) + len(suffix)

    def text_of(self, event: bytes) -> str | None:
        """The text of ``event`` if it has this shape, else None (parse it instead)."""
        if not (
            len(event) >= self._least
            and event.startswith(self.prefix)
            and event.endswith(self.suffix)
        ):
            return None
        body = event[self._at : len(event) - len(self.suffix)]
        if _NOT_VERBATIM.search(body) is None:
            try:
                return body.decode()
            except UnicodeDecodeError:
                return None
        try:
            value = orjson.loads(b'"' + body + b'"')
        except orjson.JSONDecodeError:
            return None  # an unescaped quote (not one string), a raw control byte, ...
        return value if isinstance(value, str) else None

    def with_text(self, text: str) -> bytes:
        """The event with ``text`` in place of its own."""
        if not text:
            return self.empty
        return b"".join((self.prefix, orjson.dumps(text)[1:-1], self.suffix))


class EventShapes:
    """The shapes learned from one stream's parsed events, one per choice."""

    __slots__ = ("_shapes",)

    def __init__(self) -> None:
        self._shapes: tuple[EventShape, ...] = ()

    def match(self, event: bytes) -> tuple[EventShape, str] | None:
        """The shape ``event`` has and its text, or None."""
        for shape in self._shapes:
            text = shape.text_of(event)
            if text is not None:
                return shape, text
        return None

    def learn(self, event: bytes, document: Any) -> None:
        """Remember the shape of ``event`` (a chunk of one whole event), parsed as
        ``document``, if it is a plain text event. ``document`` is left as it was."""
        shape = shape_of(event, document)
        if shape is not None:
            kept = tuple(s for s in self._shapes if s.index != shape.index)
            self._shapes = (*kept, shape)[-_MAX_SHAPES:]


def one_event(chunk: bytes) -> bool:
    """Whether a chunk (as ``split_events`` releases them) is one ``\\n\\n``-ended event."""
    return chunk.find(b"\n") == len(chunk) - 2 and chunk.endswith(b"\n")


def shape_of(event: bytes, document: Any) -> EventShape | None:
    """The shape of ``event`` parsed as ``document``, if it is a plain text event."""
    found = _plain_text(document)
    if found is None or not one_event(event) or not event.startswith(b"data: "):
        return None
    index, container, field = found
    text = container[field]
    if text == _PROBE:
        return None
    marker = b'"' + field.encode() + b'":"'
    start = event.find(marker)
    if start < 0:
        return None  # spaced or escaped: a shape this engine does not send compactly
    start += len(marker)
    end = event.find(b'"', start)
    if end < 0 or _NOT_VERBATIM.search(event, start, end) is not None:
        return None  # an escape in the text: learn from a later event
    prefix, suffix = event[:start], event[end:]
    # Prove that the bytes between prefix and suffix are this field and nothing else: the
    # shape with a probe in it must parse to the document with the probe as this text.
    container[field] = _PROBE
    try:
        probe = orjson.loads(prefix[6:] + orjson.dumps(_PROBE)[1:-1] + suffix)
    except orjson.JSONDecodeError:
        probe = None
    same = probe == document
    container[field] = text
    if not same or event[start:end].decode(errors="replace") != text:
        return None
    return EventShape(index, field, prefix, suffix)


def _plain_text(document: Any) -> tuple[int, dict[str, Any], str] | None:
    """(choice index, the dict holding the text, its key) of a plain text event."""
    choices = document.get("choices") if isinstance(document, dict) else None
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return None
    choice: dict[str, Any] = choices[0]
    index = choice.get("index", 0)
    if type(index) is not int or choice.get("finish_reason") is not None:
        return None
    if choice.get("logprobs") is not None:
        return None  # its logprobs move with its text (``logprobs``): parsed
    delta = choice.get("delta")
    if isinstance(delta, dict):
        plain = "text" not in choice and delta.keys() <= _DELTA_KEYS
        if plain and isinstance(delta.get("content"), str):
            return index, delta, "content"
        return None
    if delta is None and isinstance(choice.get("text"), str):
        return index, choice, "text"
    return None
