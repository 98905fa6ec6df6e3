"""JSON texts as a policy rewrites them: where the text stands, and masking that keeps it JSON.

A JSON answer (structured outputs, JSON mode, a tool call's arguments) is analysed as text,
like any other, whole or as it streams. ``JsonCursor`` follows such a text, fed in order,
piece by piece: whether the next character is inside a string (a key or a value) or between
tokens, and the path of the value it is in (``("items", 2, "card")``). ``rewrite`` replaces
the spans of the next piece so that the text stays JSON:

- inside a string, a span's characters become the replacement (the mask token, which needs
  no escaping); a span's edges move out to whole escape sequences, never cutting one;
- a bare value (a number, ``true``, ``false``, ``null``) that a span touches is replaced
  whole by what ``bare`` says for its path: the replacement as a JSON string, ``null``, or
  an exception (the answer is withheld);
- structure (braces, brackets, colons, commas, the quotes of strings) is never replaced.

Feeding is incremental and cheap: a regular expression jumps from one structural character
(or run of bare characters) to the next. Only a piece being rewritten is recorded in detail.
A text that is not JSON goes by the same rules (a span over bare words separated only by
spaces is replaced once): nothing more is promised for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from policies.spans import Span

Step = str | int | None  # an object's key (None before the first), an array's index
Path = tuple[Step, ...]
# (the path of a bare value a span touches, the span's replacement) -> the JSON put there
Bare = Callable[[Path, str], str]

# Between tokens: one structural character, or a run of a bare value's characters.
_TOKEN = re.compile(r'[{}\[\]:,"]|[^\s{}\[\]:,"]+')
_IN_STRING = re.compile(r'["\\]')
_STRING, _BARE, _MARK = 0, 1, 2  # what a recorded segment of a rewritten piece is


class _Frame:
    __slots__ = ("array", "at", "want_key")

    def __init__(self, array: bool) -> None:
        self.array = array
        self.at: Step = 0 if array else None
        self.want_key = not array


@dataclass(slots=True)
class _Record:
    """A piece's segments, for ``rewrite``: (kind, start, end, path) and escape ranges."""

    segments: list[tuple[int, int, int, Path]] = field(default_factory=list)
    escapes: list[tuple[int, int]] = field(default_factory=list)  # start -1: begun before


class JsonCursor:
    """Where a JSON text fed to it so far stands (see the module's docstring)."""

    __slots__ = ("_escape", "_in_string", "_key", "_stack")

    def __init__(self) -> None:
        self._stack: list[_Frame] = []
        self._in_string = False
        self._escape = 0  # inside a string: -1 after a backslash, n: hex digits still to come
        self._key: list[str] | None = None  # the raw pieces of the key being read

    @property
    def path(self) -> Path:
        return tuple(frame.at for frame in self._stack)

    @property
    def in_string(self) -> bool:
        return self._in_string

    def feed(self, text: str) -> None:
        """Move past ``text``, the next piece of the JSON text."""
        if text:
            self._scan(text, None)

    def rewrite(self, text: str, replacements: Sequence[tuple[Span, str]], bare: Bare) -> str:
        """``text``, the next piece, with each span (offsets into ``text``) replaced as the
        module's docstring says; the cursor moves past it. ``bare`` may raise."""
        if not replacements:
            self.feed(text)
            return text
        record = _Record()
        self._scan(text, record)
        cuts: list[tuple[int, int, str]] = []
        for span, new in replacements:
            cuts.extend(_cuts(record, span, new, bare))
        return _apply(text, cuts)

    def _scan(self, text: str, record: _Record | None) -> None:
        i, end = 0, len(text)
        stack = self._stack
        while i < end:
            if self._in_string:
                i = self._string(text, i, record)
                continue
            found = _TOKEN.search(text, i)
            if found is None:
                return
            start, i = found.span()
            char = text[start]
            if char not in '{}[]:,"':
                if record is not None:
                    record.segments.append((_BARE, start, i, self.path))
                continue
            if record is not None:
                record.segments.append((_MARK, start, i, ()))
            if char == '"':
                self._in_string = True
                top = stack[-1] if stack else None
                self._key = [] if top is not None and top.want_key else None
            elif char == "{" or char == "[":
                stack.append(_Frame(char == "["))
            elif char == "}" or char == "]":
                if stack:
                    stack.pop()
            elif stack:
                top = stack[-1]
                if char == ":":
                    top.want_key = False
                elif top.array:
                    top.at = int(top.at or 0) + 1
                else:
                    top.want_key = True

    def _string(self, text: str, i: int, record: _Record | None) -> int:
        """Read inside a string from ``i``; where reading goes on."""
        end = len(text)
        start = i
        if self._escape:  # an escape sequence begun in an earlier piece
            left = (5 if text[i] == "u" else 1) if self._escape < 0 else self._escape
            i = min(end, i + left)
            self._escape = left - (i - start)
            if record is not None:
                record.escapes.append((-1, i))
        while True:
            found = _IN_STRING.search(text, i)
            if found is None or text[found.start()] == '"':
                stop = end if found is None else found.start()
                if record is not None and stop > start:
                    record.segments.append((_STRING, start, stop, self.path))
                if self._key is not None:
                    self._key.append(text[start:stop])
                if found is None:
                    return end
                self._close_string()
                if record is not None:
                    record.segments.append((_MARK, stop, stop + 1, ()))
                return stop + 1
            at = found.start()  # a backslash
            if at + 1 >= end:
                self._escape = -1
                i = end
            else:
                length = 6 if text[at + 1] == "u" else 2
                i = min(end, at + length)
                self._escape = at + length - i
            if record is not None:
                record.escapes.append((at, at + 2 if text[at + 1 : at + 2] != "u" else at + 6))

    def _close_string(self) -> None:
        self._in_string = False
        self._escape = 0
        if self._key is None or not self._stack:
            return
        raw = "".join(self._key)
        self._key = None
        try:
            key = json.loads(f'"{raw}"')
        except ValueError:
            key = raw
        self._stack[-1].at = key if isinstance(key, str) else raw


def _cuts(record: _Record, span: Span, new: str, bare: Bare) -> list[tuple[int, int, str]]:
    """(start, end, text) replacements in the piece for one span."""
    out: list[tuple[int, int, str]] = []
    run: tuple[int, int, Path] | None = None  # bare values the span covers, only spaces between
    for kind, start, end, path in record.segments:
        if end <= span.start or start >= span.end:
            if start >= span.end:
                break
            continue
        if kind == _BARE:
            run = (run[0], end, run[2]) if run is not None else (start, end, path)
            continue
        if run is not None:
            out.append((run[0], run[1], bare(run[2], new)))
            run = None
        if kind == _STRING:
            left = _outside_escapes(record, max(start, span.start), start=True)
            right = _outside_escapes(record, min(end, span.end), start=False, limit=end)
            if left < right:
                out.append((left, right, new))
    if run is not None:
        out.append((run[0], run[1], bare(run[2], new)))
    return out


def _outside_escapes(record: _Record, at: int, *, start: bool, limit: int = 0) -> int:
    """``at`` moved out of an escape sequence: a span's start back to the escape's start
    (forward past one begun in an earlier piece), its end forward to the escape's end (back
    to its start if the escape goes on in the next piece: it cannot be replaced whole)."""
    for first, last in record.escapes:
        if first < at < last or (first < 0 and at < last):
            if start:
                return first if first >= 0 else last
            return last if last <= limit or first < 0 else first
    return at


def _apply(text: str, cuts: list[tuple[int, int, str]]) -> str:
    parts: list[str] = []
    cursor = 0
    for start, end, new in sorted(cuts):
        if end <= cursor:
            continue  # a second span over the same bare value: replaced once
        parts.append(text[cursor : max(start, cursor)])
        if start >= cursor:
            parts.append(new)
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts)
