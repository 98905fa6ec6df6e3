"""What a client saw, as comparable JSON values, and a readable diff between two of them.

Ids and timestamps differ on every call wherever it goes, and prefix-cache counts with what
the engine served before, so their values are replaced by their type (``<str>``): one that
goes missing, or changes type, is still a difference.
Floats (logprobs, embeddings) are compared within ``FLOAT_TOLERANCE``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

# Keys whose values are made fresh on every call (ids, timestamps), at any depth.
VOLATILE = frozenset(
    {
        "id",
        "created",
        "created_at",
        "completed_at",
        "call_id",
        "tool_call_id",
        "item_id",
        "response_id",
        "system_fingerprint",
        "run_id",
        # Prefix-cache hits: they depend on what the engine served before (the direct side
        # runs first and fills the cache), not on the gateway, so only their type is compared.
        "cached_tokens",
        "cache_write_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    }
)
FLOAT_TOLERANCE = 1e-3


def observe(value: Any) -> Any:
    """SDK objects (pydantic models, LangChain messages, lists of them) as JSON values, with
    ids and timestamps replaced by their type."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", warnings=False)
    if isinstance(value, Mapping):
        return {
            str(k): f"<{type(v).__name__}>" if k in VOLATILE and v is not None else observe(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [observe(v) for v in value]
    return value


def differences(expected: Any, got: Any, path: str = "$") -> Iterator[str]:
    if isinstance(expected, float) or isinstance(got, float):
        if not (
            isinstance(expected, int | float)
            and isinstance(got, int | float)
            and math.isclose(expected, got, rel_tol=0, abs_tol=FLOAT_TOLERANCE)
        ):
            yield f"{path}: direct {expected!r}, gateway {got!r}"
        return
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in sorted(expected.keys() | got.keys()):
            if key not in got:
                yield f"{path}.{key}: missing through the gateway (direct {expected[key]!r})"
            elif key not in expected:
                yield f"{path}.{key}: only through the gateway ({got[key]!r})"
            else:
                yield from differences(expected[key], got[key], f"{path}.{key}")
        return
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            yield f"{path}: {len(expected)} items directly, {len(got)} through the gateway"
        for i, (e, g) in enumerate(zip(expected, got, strict=False)):
            yield from differences(e, g, f"{path}[{i}]")
        return
    if expected != got or type(expected) is not type(got):
        shown = f"{expected!r}, gateway {got!r}"
        if repr(expected) == repr(got):
            shown = f"{type(expected).__name__} {expected!r}, gateway {type(got).__name__} {got!r}"
        yield f"{path}: direct {shown}"


def assert_same(expected: Any, got: Any, *, ignored: Mapping[str, str] | None = None) -> None:
    """Fails with every difference listed; ``ignored`` top-level keys (with the documented
    reason) are left out of the comparison."""
    ignored = ignored or {}
    if isinstance(expected, dict) and isinstance(got, dict):
        expected = {k: v for k, v in expected.items() if k not in ignored}
        got = {k: v for k, v in got.items() if k not in ignored}
    found = list(differences(expected, got))
    if found:
        shown = "\n  ".join(found[:40])
        more = f"\n  ... and {len(found) - 40} more" if len(found) > 40 else ""
        raise AssertionError(f"{len(found)} difference(s) the gateway introduced:\n  {shown}{more}")


# The pieces of a streamed text, and the per-token lists that go with them.
_TEXT_KEYS = frozenset({"content", "text", "delta", "partial_json", "arguments"})
_LIST_KEYS = frozenset({"logprobs", "content", "tokens", "token_logprobs", "top_logprobs",
                        "text_offset"})  # fmt: skip


class _Apart(Exception):
    """Two events that are not two pieces of one."""


def _merge(a: Any, b: Any, key: str | None) -> Any:
    if isinstance(a, str) and isinstance(b, str) and key in _TEXT_KEYS:
        return a + b
    if isinstance(a, list) and isinstance(b, list) and key in _LIST_KEYS:
        return a + b
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return {k: _merge(a[k], b[k], k) for k in a}
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [_merge(x, y, key) for x, y in zip(a, b, strict=True)]
    if a == b:
        return a
    raise _Apart


def _blank(value: Any, key: str | None = None) -> Any:
    if isinstance(value, str) and key in _TEXT_KEYS:
        return ""
    if isinstance(value, dict):
        return {k: _blank(v, k) for k, v in value.items() if k != "snapshot"}
    if isinstance(value, list):
        return [] if key in _LIST_KEYS else [_blank(v, key) for v in value]
    return value


def coalesced(events: list[Any], *, text: bool = True) -> list[Any]:
    """A stream with each run of consecutive text deltas of one shape joined into one.

    vLLM itself sends two tokens as one delta when its output loop falls behind, so where a
    stream is cut is not repeatable even directly; what must be equal is the events' order,
    kinds and fields, and the text. Responses' ``sequence_number`` is checked to count up
    by one and then renumbered after joining. Without ``text`` the texts are blanked first:
    what is left is the stream's shape, whatever text each delta carried."""
    numbers = [e.get("sequence_number") for e in events if isinstance(e, dict)]
    first = numbers[0] if numbers else None
    if isinstance(first, int):
        assert numbers == list(range(first, first + len(numbers))), numbers
    joined: list[Any] = []
    for event in events:
        plain = {k: v for k, v in event.items() if k != "sequence_number"}
        if not text:
            plain = _blank(plain)
        if joined:
            try:
                joined[-1] = _merge(joined[-1], plain, None)
                continue
            except _Apart:
                pass
        joined.append(plain)
    return joined
