"""Restoration applied to OpenAI response bodies: whole responses and streamed chunks.

Chat completions carry text in ``message``/``delta`` fields (``content``, ``reasoning_content``,
``reasoning``, ``refusal``) and JSON documents in tool-call and legacy ``function_call``
arguments, where values are inserted JSON-escaped; completions carry ``choices[i].text``.
When the request asked for a JSON answer (``json_content``), its ``content`` and ``text`` are
JSON documents too, restored JSON-escaped as well.

Streaming (``ChunkRestorer``): one ``StreamRestorer`` per (choice, field) and per (choice, tool
call), created when the field first appears. Chunks are rewritten in place; a chunk whose text
is all held back keeps an empty string. A choice's held-back tails are flushed into the chunk
that carries its ``finish_reason``. If the stream ends without one (engine cut off, client
limit), ``drain()`` returns one more chunk with the leftovers, to send before ``[DONE]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.pseudonym.restore import RestoreTable, StreamRestorer, restore_text

_TEXT_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")
_ANSWER_FIELDS = ("content", "text")  # JSON documents when the request asked for JSON
_ENVELOPE = ("id", "object", "created", "model", "system_fingerprint")
_Fields = dict[str, str]  # field name -> held-back tail (at a flush)


def restore_body(
    body: dict[str, Any], mapping: Mapping[str, str], *, json_content: bool = False
) -> dict[str, Any]:
    """A non-streamed chat completion or completion, restored in place (and returned)."""
    if not mapping:
        return body
    for choice in body.get("choices") or ():
        text = choice.get("text")
        if isinstance(text, str):
            choice["text"] = restore_text(text, mapping, json_escape=json_content)
        message = choice.get("message")
        if not isinstance(message, dict):
            continue
        for name in _TEXT_FIELDS:
            value = message.get(name)
            if isinstance(value, str):
                escape = json_content and name in _ANSWER_FIELDS
                message[name] = restore_text(value, mapping, json_escape=escape)
        calls = [call.get("function") for call in message.get("tool_calls") or ()]
        for function in [*calls, message.get("function_call")]:
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                function["arguments"] = restore_text(
                    function["arguments"], mapping, json_escape=True
                )
    return body


class _Choice:
    """The restorers of one choice's fields, created on first sight."""

    __slots__ = ("calls", "fields", "function_call", "json_content", "table")

    def __init__(self, table: RestoreTable, json_content: bool = False) -> None:
        self.table = table
        self.json_content = json_content
        self.fields: dict[str, StreamRestorer] = {}
        self.calls: dict[int, StreamRestorer] = {}
        self.function_call: StreamRestorer | None = None

    def text(self, name: str, piece: str) -> str:
        restorer = self.fields.get(name)
        if restorer is None:
            escape = self.json_content and name in _ANSWER_FIELDS
            restorer = self.fields[name] = StreamRestorer(self.table, json_escape=escape)
        return restorer.feed(piece)

    def arguments(self, call: int | None, piece: str) -> str:
        if call is None:
            if self.function_call is None:
                self.function_call = StreamRestorer(self.table, json_escape=True)
            return self.function_call.feed(piece)
        restorer = self.calls.get(call)
        if restorer is None:
            restorer = self.calls[call] = StreamRestorer(self.table, json_escape=True)
        return restorer.feed(piece)

    def flush_into(self, choice: dict[str, Any]) -> None:
        """Append every held-back tail to ``choice`` (a chunk's choice, or a new one)."""
        for name, restorer in self.fields.items():
            tail = restorer.flush()
            if not tail:
                continue
            target = choice if name == "text" else choice.setdefault("delta", {})
            target[name] = (target.get(name) or "") + tail
        for index, restorer in self.calls.items():
            tail = restorer.flush()
            if tail:
                _call_delta(choice.setdefault("delta", {}), index)["arguments"] += tail
        if self.function_call is not None and (tail := self.function_call.flush()):
            function = choice.setdefault("delta", {}).setdefault("function_call", {})
            function["arguments"] = (function.get("arguments") or "") + tail

    def holds(self) -> bool:
        restorers = [*self.fields.values(), *self.calls.values(), self.function_call]
        return any(r is not None and r.held for r in restorers)


def _call_delta(delta: dict[str, Any], index: int) -> dict[str, Any]:
    """The ``function`` of tool call ``index`` in ``delta``, added if the delta lacks it."""
    calls = delta.get("tool_calls")
    if not isinstance(calls, list):
        calls = delta["tool_calls"] = []
    for call in calls:
        if call.get("index") == index:
            function: dict[str, Any] = call.setdefault("function", {})
            function["arguments"] = function.get("arguments") or ""
            return function
    function = {"arguments": ""}
    calls.append({"index": index, "function": function})
    return function


class ChunkRestorer:
    """Restores a stream of ``chat.completion.chunk`` or ``text_completion`` chunks."""

    __slots__ = ("_choices", "_holding", "_json", "_last", "_table")

    def __init__(
        self, mapping: Mapping[str, str] | RestoreTable, *, json_content: bool = False
    ) -> None:
        self._table = mapping if isinstance(mapping, RestoreTable) else RestoreTable(mapping)
        self._json = json_content  # the answer's text is JSON: restored JSON-escaped
        self._choices: dict[int, _Choice] = {}
        self._last: dict[str, Any] | None = None
        self._holding = False  # kept by every method that feeds or flushes a restorer

    @property
    def holding(self) -> bool:
        """Whether some field holds back a tail (a chunk without "<" may then still flush).
        Asked per streamed event, so it is kept, not computed."""
        return self._holding

    def on_chunk(self, chunk: dict[str, Any]) -> dict[str, Any]:
        choices = chunk.get("choices")
        if not choices or not self._table.mapping:
            return chunk  # usage-only chunks, or nothing to restore
        self._last = chunk
        try:
            self._on_choices(choices)
        finally:
            self._holding = any(state.holds() for state in self._choices.values())
        return chunk

    def _on_choices(self, choices: list[dict[str, Any]]) -> None:
        for choice in choices:
            index = choice.get("index", 0)
            state = self._choices.get(index)
            if state is None:
                state = self._choices[index] = _Choice(self._table, self._json)
            text = choice.get("text")
            if isinstance(text, str):
                choice["text"] = state.text("text", text)
            delta = choice.get("delta")
            if delta:
                _restore_delta(state, delta)
            if choice.get("finish_reason") is not None:
                state.flush_into(choice)
                del self._choices[index]

    def held(self, index: int, field: str) -> int:
        """How many characters of choice ``index``'s ``field`` are held back."""
        state = self._choices.get(index)
        restorer = state.fields.get(field) if state is not None else None
        return len(restorer.held) if restorer is not None else 0

    def on_text(self, index: int, field: str, piece: str) -> str:
        """``on_chunk`` of a chunk whose one choice (``index``, no ``finish_reason``) carries
        only a text (``field``: its delta's "content", or its "text"), and whose other fields
        are those of a chunk seen before: the text restored, without a document to walk.
        The stream's plain text events take this way (``gateway.privacy.event_shape``)."""
        if (not self._holding and "<" not in piece) or not self._table.mapping:
            # Restoring would change nothing: no "<" and nothing held. (It would only make
            # the choice's restorers, holding nothing, which nobody could tell apart.)
            return piece
        state = self._choices.get(index)
        if state is None:
            state = self._choices[index] = _Choice(self._table, self._json)
        if not piece and field != "text":  # as on_chunk: an empty delta text is not fed
            return piece
        restored = state.text(field, piece)
        self._holding = any(choice.holds() for choice in self._choices.values())
        return restored

    def drain(self) -> dict[str, Any] | None:
        """A last chunk with what is still held back (the stream ended without a
        ``finish_reason``), or None. Send it, if any, before ``[DONE]``."""
        pending = {i: state for i, state in self._choices.items() if state.holds()}
        self._choices.clear()
        self._holding = False
        if not pending or self._last is None:
            return None
        chunk = {k: self._last[k] for k in _ENVELOPE if k in self._last}
        choices = []
        for index, state in sorted(pending.items()):
            choice: dict[str, Any] = {"index": index, "finish_reason": None}
            state.flush_into(choice)
            choices.append(choice)
        chunk["choices"] = choices
        return chunk


def _restore_delta(state: _Choice, delta: dict[str, Any]) -> None:
    for name in _TEXT_FIELDS:
        piece = delta.get(name)
        if isinstance(piece, str) and piece:
            delta[name] = state.text(name, piece)
    for call in delta.get("tool_calls") or ():
        function = call.get("function")
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            function["arguments"] = state.arguments(call.get("index", 0), function["arguments"])
    legacy = delta.get("function_call")
    if isinstance(legacy, dict) and isinstance(legacy.get("arguments"), str):
        legacy["arguments"] = state.arguments(None, legacy["arguments"])
