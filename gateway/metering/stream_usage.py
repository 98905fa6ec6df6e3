"""Usage on streams: what the client asked for, what the engine is asked for, and the engine's
per-chunk usage read and taken out by bytes, without parsing the event.

vLLM reads ``stream_options`` so (``should_include_usage``): ``include_usage`` adds one final
usage-only chunk (``"choices":[]``); ``continuous_usage_stats`` adds the cumulative usage so
far to every chunk, and only together with ``include_usage`` (alone it does nothing). The
gateway always asks for the final chunk (the exact count it meters) and, when a client that
leaves stops the engine, for per-chunk usage too: a stream cut short is then metered from the
engine's own count at the last chunk the gateway read. The client gets exactly what it asked
for; the rest is taken out on the way (``metering/stream.py``).

A per-chunk usage is a flat JSON object of counts. ``usage_member`` finds where it ends with
one regular expression anchored at the ``"usage":{`` mark (a mark that cannot occur inside a
JSON string, whose quotes are escaped), so taking it out costs a match and one join, never a
parse. An object of another form (nested details, a reasoning parser's counts) is not
matched; the caller then parses that event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.core.usage import Usage
from gateway.metering.usage import usage_of

# The member as vLLM writes it on a content chunk: `,"usage":{"prompt_tokens":9,...}`.
MEMBER = re.compile(rb',"usage":\{"[a-z_]+":(?:[0-9]+|null)(?:,"[a-z_]+":(?:[0-9]+|null))*\}')
_INDEX = re.compile(rb'"choices":\[\{"index":([0-9]+)')


@dataclass(frozen=True, slots=True)
class UsageAsked:
    """The usage a client asked for on a stream, as vLLM would honour it."""

    final: bool = False  # the final usage-only chunk (include_usage)
    continuous: bool = False  # usage on every chunk (continuous_usage_stats, with the above)

    @classmethod
    def of(cls, options: Any) -> UsageAsked:
        if not isinstance(options, dict):
            return cls()
        final = bool(options.get("include_usage"))
        return cls(final, final and bool(options.get("continuous_usage_stats")))


NO_USAGE = UsageAsked()


def engine_options(options: Any, asked: UsageAsked, *, continuous: bool) -> dict[str, Any]:
    """The ``stream_options`` the engine gets: the client's, with the final usage chunk always
    and per-chunk usage when the gateway needs it (``continuous``) or the client asked for it.
    A client's ``continuous_usage_stats`` that vLLM would ignore stays ignored."""
    given = options if isinstance(options, dict) else {}
    wanted = continuous or asked.continuous
    sent = {**given, "include_usage": True}
    if wanted or "continuous_usage_stats" in given:
        sent["continuous_usage_stats"] = wanted
    return sent


def member_end(event: bytes, at: int) -> int:
    """Where the usage member whose mark starts at ``at`` ends (``,"usage":{...}`` starts at
    ``at - 1``), or -1 if it is not a flat object of counts."""
    found = MEMBER.match(event, at - 1)
    return found.end() if found is not None else -1


def without_usage(event: bytes, at: int) -> bytes:
    """One event without its usage member (mark at ``at``): by bytes when the member is of
    the usual form, else parsed and written again."""
    end = member_end(event, at)
    if end >= 0:
        return event[: at - 1] + event[end:]
    head, _, rest = event.partition(b"{")
    body, separator = rest.rstrip(b"\r\n"), rest[len(rest.rstrip(b"\r\n")) :]
    document = orjson.loads(b"{" + body)
    document.pop("usage", None)
    return head + orjson.dumps(document) + separator


class ContinuousUsage:
    """The last per-chunk usage the engine sent for each choice: its count of what it had
    generated when the gateway last read from it. Events are kept as they came and parsed
    once, at the end, only if no final usage chunk arrived."""

    __slots__ = ("_last", "_n", "_several")

    def __init__(self, n: int = 1, prompts: int = 1) -> None:
        self._n = max(n, 1)
        self._several = self._n * max(prompts, 1) > 1
        self._last: dict[int, bytes] = {}

    def __bool__(self) -> bool:
        return bool(self._last)

    def see(self, event: bytes) -> None:
        """An event carrying per-chunk usage (one choice's, in vLLM: choice ``i``'s tokens)."""
        if not self._several:
            self._last[0] = event
            return
        found = _INDEX.search(event)
        self._last[int(found.group(1)) if found is not None else 0] = event

    def total(self) -> Usage | None:
        """The usage of all choices so far: each choice's completion tokens, and each prompt's
        tokens once (choice ``i`` answers prompt ``i // n``, as vLLM numbers them)."""
        prompts: dict[int, int] = {}
        completion = 0
        for index, event in self._last.items():
            start = event.find(b"{")
            try:
                usage = usage_of(orjson.loads(event[start:]))
            except orjson.JSONDecodeError:
                usage = None
            if usage is None:
                continue
            prompts[index // self._n] = usage.prompt_tokens
            completion += usage.completion_tokens
        return Usage(sum(prompts.values()), completion) if prompts else None


def prompt_count(payload: dict[str, Any]) -> int:
    """How many prompts a request holds (a completion's ``prompt`` may be a list of them)."""
    prompt = payload.get("prompt")
    if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int):
        return len(prompt)
    return 1
