"""Logprobs that move with their text when the policy regroups, masks or restores it.

The answer guard holds text back and releases it later in other events; masking replaces a
value with ``<IBAN>``, restoring replaces ``<PERSON_1>`` with the client's value (also in an
echoed prompt). The engine's logprobs describe the text the engine wrote, token by token,
event by event. For the client, in every event (and in a whole answer) the tokens of the
logprobs concatenate to the text it receives:

* The engine's events are the units: an event's text and its logprob entries go together.
  A unit reaches the client in the event that releases the last of its text; text released
  before that waits with it (a release never splits a unit).
* Units whose text the policy changed (masked, restored, both) become **one entry** per
  changed stretch: its ``token`` is the text the client gets, ``logprob`` the **sum** of the
  covered tokens' logprobs (the log probability that the model wrote that stretch, the value
  of the hidden text, as the engine scored it; ``None`` counts 0), ``bytes`` the new text's
  UTF-8, ``top_logprobs`` empty: the alternatives to personal data are not shown. Unchanged
  units keep the engine's entries, alternatives included.
* Completions' ``text_offset`` is recounted in the client's text.

Where the text changed is read off the engine's and the client's text of the pending stretch
(``difflib``'s matching blocks): both are short (what is held, a few tokens), the unchanged
parts are equal character for character, and the changed ones are whole values.

``LogprobAligner`` does this per stream, ``align_body`` for a whole answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

import orjson

# token, logprob, its alternatives as the format has them, the engine's entry (chat) if kept
Entry = tuple[str, float | None, Any, Any]
Held = Callable[[int, str], int]  # (choice, field) -> raw characters still held back
_SURE = 3
_LOGPROBS = b'"logprobs":{'


def has_logprobs(chunk: bytes) -> bool:
    """Whether an event may carry logprobs (a cheap byte test; parsed to be sure)."""
    # Any event of the chunk, not only its first; vLLM writes compact JSON (a spaced
    # ``"logprobs": {`` would pass unaligned, as before issue 14).
    return _LOGPROBS in chunk


def events_of(chunk: bytes) -> list[bytes]:
    """A chunk's events, each with its ``\n\n`` (the relay may bring several at once)."""
    return [event + b"\n\n" for event in chunk.split(b"\n\n") if event]


@dataclass(slots=True)
class _Unit:
    raw: str
    entries: list[Entry]


@dataclass(slots=True)
class _Choice:
    chat: bool
    units: list[_Unit] = field(default_factory=list)
    raw_in: int = 0  # raw characters received
    emitted: int = 0  # raw characters whose units were sent
    out: str = ""  # the client's text received for them, not yet sent
    offset: int | None = None  # completions: text_offset of the next entry sent


class LogprobAligner:
    """Per stream: each event's logprobs regrouped to the text the client gets in it."""

    def __init__(self) -> None:
        self._choices: dict[int, _Choice] = {}

    def align(self, raw_event: bytes, out_event: bytes, held: Held) -> bytes:
        """``out_event`` (the event after guard and restorer, from ``raw_event``) with its
        texts and logprobs regrouped; ``held`` says what the guard and restorer hold."""
        try:
            raw = orjson.loads(raw_event[6:])
            out = orjson.loads(out_event[6:])
        except orjson.JSONDecodeError:
            return out_event
        if not isinstance(raw, dict) or not isinstance(out, dict):
            return out_event
        raw_choices = {
            c.get("index", 0): c for c in raw.get("choices") or [] if isinstance(c, dict)
        }
        for choice in out.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            source = raw_choices.get(index, {})
            chat, container, key = _text_of(source if source else choice)
            state = self._choices.get(index)
            if state is None:
                state = self._choices[index] = _Choice(chat)
            piece = container.get(key) if isinstance(container, dict) else None
            _, out_container, out_key = _text_of(choice)
            text = out_container.get(out_key) if isinstance(out_container, dict) else None
            final = choice.get("finish_reason") is not None
            if not isinstance(piece, str) and not isinstance(text, str) and not final:
                continue  # no text (a tool call's delta): its logprobs as the engine sent them
            entries = _entries(source.get("logprobs"), chat, state)
            if isinstance(piece, str) and (piece or entries):
                state.units.append(_Unit(piece, entries))
                state.raw_in += len(piece)
            state.out += text if isinstance(text, str) else ""
            consumed = state.raw_in if final else max(state.raw_in - held(index, key), 0)
            sent, grouped = _release(state, consumed, final=final)
            if isinstance(out_container, dict) and (isinstance(text, str) or sent):
                out_container[out_key] = sent
            if grouped or choice.get("logprobs") is not None or source.get("logprobs"):
                choice["logprobs"] = _write(grouped, chat, state)
            if final:
                del self._choices[index]
        return b"data: " + orjson.dumps(out) + b"\n\n"


def align_body(document: dict[str, Any], original: dict[int, str]) -> None:
    """A whole answer's logprobs regrouped to its choices' texts as the client gets them;
    ``original``: each choice's text as the engine wrote it (before masking, restoring)."""
    for choice in document.get("choices") or []:
        if not isinstance(choice, dict) or not isinstance(choice.get("logprobs"), dict):
            continue
        index = choice.get("index", 0)
        chat, container, key = _text_of(choice)
        text = container.get(key) if isinstance(container, dict) else None
        raw = original.get(index)
        if not isinstance(text, str) or raw is None or raw == text:
            continue
        state = _Choice(chat)
        entries = _entries(choice["logprobs"], chat, state)
        if "".join(e[0] for e in entries) == raw:
            state.units = [_Unit(e[0], [e]) for e in entries]  # each token its own unit
        else:
            state.units = [_Unit(raw, entries)]
        state.raw_in, state.out = len(raw), text
        _, grouped = _release(state, len(raw), final=True)
        choice["logprobs"] = _write(grouped, chat, state)


def _text_of(choice: dict[str, Any]) -> tuple[bool, dict[str, Any], str]:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return True, delta, "content"
    message = choice.get("message")
    if isinstance(message, dict):
        return True, message, "content"
    return False, choice, "text"


def _entries(logprobs: Any, chat: bool, state: _Choice) -> list[Entry]:
    if not isinstance(logprobs, dict):
        return []
    if chat:
        content = logprobs.get("content")
        return [
            (str(e.get("token", "")), e.get("logprob"), e.get("top_logprobs") or [], e)
            for e in content or []
            if isinstance(e, dict)
        ]
    tokens = logprobs.get("tokens") or []
    values = logprobs.get("token_logprobs") or []
    tops = logprobs.get("top_logprobs") or []
    offsets = logprobs.get("text_offset") or []
    if state.offset is None and offsets:
        state.offset = int(offsets[0])
    return [
        (str(t), values[i] if i < len(values) else None, tops[i] if i < len(tops) else None, None)
        for i, t in enumerate(tokens)
    ]


def _release(state: _Choice, consumed: int, *, final: bool) -> tuple[str, list[Entry]]:
    """(the client's text sent now, its entries): the units complete within ``consumed``
    raw characters, the changed stretches among them merged."""
    bounds, at = [], state.emitted
    for unit in state.units:
        at += len(unit.raw)
        bounds.append(at)
    raw = "".join(u.raw for u in state.units)[: consumed - state.emitted]
    out = state.out
    mapping = _boundaries(raw, out)
    sent: list[Entry] = []
    group: list[_Unit] = []
    group_start_out = 0
    taken = 0
    done_out = 0
    for unit, bound in zip(state.units, bounds, strict=True):
        if bound > consumed:
            break
        group.append(unit)
        end_out = mapping.get(bound - state.emitted)
        if end_out is None:
            continue  # inside a changed stretch: the group goes on
        group_raw = "".join(u.raw for u in group)
        group_out = out[group_start_out:end_out]
        if group_raw == group_out:
            sent.extend(e for u in group for e in u.entries)
        else:
            total = sum(e[1] or 0.0 for u in group for e in u.entries)
            sent.append((group_out, total, None, None))
        taken += len(group)
        done_out = end_out
        group_start_out = end_out
        group = []
    emitted_raw = sum(len(u.raw) for u in state.units[:taken])
    state.units = state.units[taken:]
    state.emitted += emitted_raw
    text, state.out = out[:done_out], out[done_out:]
    return text, sent


def _boundaries(raw: str, out: str) -> dict[int, int]:
    """Positions in ``raw`` whose place in ``out`` is known -> that place: both ends (``out``
    is what the client gets for exactly ``raw``), and inside or at the edges of unchanged
    stretches. A match shorter than ``_SURE`` characters inside a changed stretch ("1" of
    "<IBAN_1>" in the restored IBAN) is no unchanged stretch."""
    if raw == out:
        return {i: i for i in range(len(raw) + 1)}
    known: dict[int, int] = {0: 0, len(raw): len(out)}
    matcher = SequenceMatcher(None, raw, out, autojunk=False)
    for a, b, size in matcher.get_matching_blocks():
        if size >= _SURE or (a == 0 and b == 0) or (a + size, b + size) == (len(raw), len(out)):
            for k in range(size + 1):
                known[a + k] = b + k
    return known


def _write(entries: list[Entry], chat: bool, state: _Choice) -> dict[str, Any] | None:
    if chat:
        return {
            "content": [
                kept
                if kept is not None
                else {
                    "token": token,
                    "logprob": logprob,
                    "bytes": list(token.encode()),
                    "top_logprobs": top if top is not None else [],
                }
                for token, logprob, top, kept in entries
            ]
        }
    offsets = []
    at = state.offset or 0
    for token, *_ in entries:
        offsets.append(at)
        at += len(token)
    state.offset = at
    return {
        "text_offset": offsets,
        "token_logprobs": [e[1] for e in entries],
        "tokens": [e[0] for e in entries],
        "top_logprobs": [e[2] if e[2] is not None else {} for e in entries],
    }
