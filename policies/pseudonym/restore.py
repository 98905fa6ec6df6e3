"""Putting the original values back into what the model wrote: whole texts and streams.

Pure and synchronous. ``restore_text`` is one regex pass; ``StreamRestorer`` restores a text
that arrives in pieces (SSE deltas) and holds back only what might still become a known
placeholder: the longest tail of the pending text that is a proper prefix of one, so never more
than the longest placeholder minus one character. Unknown placeholders stay as they are.

In a JSON string (tool-call arguments stream as fragments of a JSON document) a value must be
inserted JSON-escaped, or a quote or backslash in it would break the arguments:
``json_escape=True``.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Mapping
from re import Match

from policies.pseudonym.placeholders import PLACEHOLDER_RE


def json_escaped(value: str) -> str:
    """``value`` as the inside of a JSON string literal."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def restore_text(text: str, mapping: Mapping[str, str], *, json_escape: bool = False) -> str:
    if "<" not in text or not mapping:
        return text

    def swap(match: Match[str]) -> str:
        found = match.group()
        value = mapping.get(found)
        if value is None:
            return found
        return json_escaped(value) if json_escape else value

    return PLACEHOLDER_RE.sub(swap, text)


class RestoreTable:
    """A mapping prepared once for many restorers (a response's choices and tool calls)."""

    __slots__ = ("_escaped", "longest", "mapping", "names")

    def __init__(self, mapping: Mapping[str, str]) -> None:
        known = {k: v for k, v in mapping.items() if PLACEHOLDER_RE.fullmatch(k)}
        self.mapping: dict[str, str] = known
        self.names = sorted(known)  # for prefix look-ups by bisection
        self.longest = max(map(len, known), default=0)
        self._escaped: dict[str, str] | None = None

    def values(self, json_escape: bool) -> dict[str, str]:
        """The replacements; JSON-escaped ones are made on first use (tool calls are rare)."""
        if not json_escape:
            return self.mapping
        if self._escaped is None:
            self._escaped = {k: json_escaped(v) for k, v in self.mapping.items()}
        return self._escaped

    def is_proper_prefix(self, text: str) -> bool:
        """Whether ``text`` may still grow into a known placeholder."""
        names = self.names
        i = bisect_left(names, text)
        # A complete placeholder ends in ">", so none is a prefix of another: if names[i] is
        # ``text`` itself, no later name starts with it.
        return i < len(names) and len(names[i]) > len(text) and names[i].startswith(text)


class StreamRestorer:
    """Restores one streamed text (one field of one choice).

    ``feed`` returns what can be released now, ``flush`` the rest at the end. The output of all
    feeds plus the flush equals ``restore_text`` of the whole text.
    """

    __slots__ = ("_held", "_longest", "_table", "_values")

    def __init__(
        self, mapping: Mapping[str, str] | RestoreTable, *, json_escape: bool = False
    ) -> None:
        table = mapping if isinstance(mapping, RestoreTable) else RestoreTable(mapping)
        self._values = table.values(json_escape)
        self._table = table
        self._longest = table.longest
        self._held = ""

    @property
    def held(self) -> str:
        """The text held back (a proper prefix of a known placeholder, or empty)."""
        return self._held

    def feed(self, delta: str) -> str:
        if not self._held and "<" not in delta:
            return delta  # the common case, per streamed token: no copy, no scan
        text = self._held + delta
        cut = self._hold_from(text)
        self._held = text[cut:]
        return restore_text(text[:cut], self._values)

    def flush(self) -> str:
        # What is held is a proper prefix of a placeholder: nothing in it to replace.
        held, self._held = self._held, ""
        return held

    def _hold_from(self, text: str) -> int:
        """Where the longest tail that could still become a known placeholder starts."""
        end = len(text)
        start = text.find("<", max(0, end - self._longest + 1))
        while start != -1:
            # A placeholder has "<" only first, so the first "<" that starts a prefix gives
            # the longest tail.
            if self._table.is_proper_prefix(text[start:]):
                return start
            start = text.find("<", start + 1)
        return end
