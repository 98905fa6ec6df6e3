"""JSON answers through the privacy units (issue 14): restored JSON-escaped, masked as JSON,
whole and streamed, on the stream guard's fast path and its parsing path alike.

The analyzer is a deterministic fake (regular expressions), as in test_stream_fast_path.py:
the subject is what the guard and the restorer make of JSON, not detection.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import PolicyBlocked, UpstreamError, render_sse
from gateway.privacy.analysis import AnalysisService
from gateway.privacy.answer import StreamRestoring, filter_body
from gateway.privacy.applied import Applied
from gateway.privacy.json_answers import AnswerFormats, JsonFormat, answer_formats
from gateway.privacy.stream_guard import AnswerGuard, GuardedStream
from policies.model import Policy, load_preset
from policies.pseudonym.chunks import ChunkRestorer
from policies.spans import Span

QUOTED = 'Max "Maxi" Mus\\ter'  # a restored value that would break JSON unescaped
MAPPING = {"<PERSON_1>": QUOTED}
CARD = 4111111111111111
_FOUND = [
    ("CREDIT_CARD", re.compile(r"(?<![\w.\-])4111111111111111(?![\w.])")),
    ("PERSON", re.compile(r"\bVollmer\b")),
]
GDPR = load_preset("gdpr-default")  # eager: cards, identifiers, contact details
STRICT = load_preset("public-sector-strict")  # conservative: names too
HEAD = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":['


class FakeAnalysis:
    async def analyze(
        self, texts: Sequence[str], policy: Policy, *, tenant: str
    ) -> list[list[Span]]:
        return [
            [Span(m.start(), m.end(), entity, 1.0) for entity, r in _FOUND for m in r.finditer(t)]
            for t in texts
        ]


ANALYSIS = cast(AnalysisService, FakeAnalysis())


def _event(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return HEAD + orjson.dumps(choice) + b"]}\n\n"


def _content_events(text: str, cuts: list[int]) -> list[bytes]:
    edges = [0, *sorted(set(cuts)), len(text)]
    pieces = [text[a:b] for a, b in itertools.pairwise(edges)]
    return [
        _event({"role": "assistant", "content": ""}),
        *(_event({"content": p}) for p in pieces),
        _event({}, "stop"),
    ]


def _relayed(chunks: list[bytes]) -> tuple[str, dict[int, str], str | None]:
    """(content, arguments per tool call, the in-band error code) a client reassembles."""
    content, calls, error = "", dict[int, str](), None
    for chunk in chunks:
        for event in chunk.split(b"\n\n"):
            if not event.startswith(b"data: {"):
                continue
            document = json.loads(event[6:])
            if "error" in document:
                error = document["error"]["code"]
                continue
            for choice in document["choices"]:
                delta = choice.get("delta") or {}
                content += delta.get("content") or ""
                for call in delta.get("tool_calls") or []:
                    piece = (call.get("function") or {}).get("arguments") or ""
                    calls[call["index"]] = calls.get(call["index"], "") + piece
    return content, calls, error


class _Source:
    finish_on_disconnect = False

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def events(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk

    async def aclose(self, *, client_gone: bool = False) -> None:
        return None


async def _gateway(
    chunks: list[bytes], policy: Policy, formats: AnswerFormats
) -> tuple[list[bytes], Applied]:
    """The stream as the gateway relays it (the fast path where it applies)."""
    applied = Applied(policy, "enforce", tenant="t")
    guard = AnswerGuard(ANALYSIS, applied, formats)
    json_content = formats.content is not None
    stream = GuardedStream(_Source(chunks), guard, MAPPING, json_content=json_content)
    return [chunk async for chunk in stream.events()], applied


async def _reference(chunks: list[bytes], policy: Policy, formats: AnswerFormats) -> list[bytes]:
    """Every event parsed, through the guard and a restorer."""
    guard = AnswerGuard(ANALYSIS, Applied(policy, "enforce", tenant="t"), formats)
    restorer = ChunkRestorer(MAPPING, json_content=formats.content is not None)
    out: list[bytes] = []
    for chunk in chunks:
        try:
            guarded = await guard.feed_parsed(chunk)
        except (PolicyBlocked, UpstreamError) as exc:
            out.append(render_sse(exc))
            break
        if guarded.startswith(b"data: {"):
            guarded = b"data: " + orjson.dumps(restorer.on_chunk(orjson.loads(guarded[6:-2])))
            guarded += b"\n\n"
        out.append(guarded)
    return out


def _expected(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and value == CARD:
        return "<CREDIT_CARD>"
    if isinstance(value, str):
        value = re.sub(r"(?<![\w.\-])4111111111111111(?![\w.])", "<CREDIT_CARD>", value)
        return value.replace("<PERSON_1>", QUOTED)
    if isinstance(value, list):
        return [_expected(v) for v in value]
    if isinstance(value, dict):
        return {_expected(k): _expected(v) for k, v in value.items()}
    return value


SCALARS = st.one_of(
    st.integers(-1000, 10**6),
    st.just(CARD),
    st.booleans(),
    st.none(),
    st.sampled_from(
        ["Hallo Welt", "<PERSON_1>", "Herr <PERSON_1>, Ihre Karte 4111111111111111", 'a "b" \\c']
    ),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["card", "name", "ü", 'q"']), inner, max_size=3)
    ),
    max_leaves=10,
)
PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(
    document=st.dictionaries(st.sampled_from(["a", "b", "c"]), DOCUMENTS, min_size=1),
    spaced=st.booleans(),
    policy=st.sampled_from([GDPR, STRICT]),
    data=st.data(),
)
def test_json_answers_streamed_in_any_pieces_stay_json_masked_and_restored(
    document: dict[str, Any], spaced: bool, policy: Policy, data: st.DataObject
) -> None:
    text = json.dumps(document, separators=(", ", ": ") if spaced else (",", ":"))
    cuts = data.draw(st.lists(st.integers(1, len(text) - 1), max_size=40))
    chunks = _content_events(text, cuts)
    formats = AnswerFormats(JsonFormat())
    relayed, _ = asyncio.run(_gateway(chunks, policy, formats))
    content, _, error = _relayed(relayed)
    assert error is None
    assert json.loads(content) == _expected(document)
    # The fast path relays what parsing every event relays.
    assert _relayed(asyncio.run(_reference(chunks, policy, formats))) == _relayed(relayed)


async def test_restored_values_are_json_escaped_in_json_answers_only() -> None:
    answer = '{"kunde": "<PERSON_1>"}'
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}]}
    applied = Applied(GDPR, "enforce", mapping=dict(MAPPING), tenant="t")
    formats = AnswerFormats(JsonFormat())
    whole = json.loads(await filter_body(ANALYSIS, applied, orjson.dumps(body), formats))
    assert json.loads(whole["choices"][0]["message"]["content"]) == {"kunde": QUOTED}
    prose = json.loads(await filter_body(ANALYSIS, applied, orjson.dumps(body)))
    assert prose["choices"][0]["message"]["content"] == answer.replace("<PERSON_1>", QUOTED)
    for size in (1, 2, 5):
        events = _content_events(answer, list(range(size, len(answer), size)))
        restoring = StreamRestoring(MAPPING, json_content=True)
        content, _, _ = _relayed([restoring(e) for e in events])
        assert json.loads(content) == {"kunde": QUOTED}


def _tool_events(arguments: dict[int, str], size: int) -> list[bytes]:
    """Two tool calls' arguments, interleaved ``size`` characters at a time."""
    events = [_event({"role": "assistant", "content": None})]
    for number in arguments:
        function = {"name": "pay" if number == 0 else "note", "arguments": ""}
        call = {"index": number, "id": f"call-{number}", "type": "function", "function": function}
        events.append(_event({"tool_calls": [call]}))
    longest = max(map(len, arguments.values()))
    for at in range(0, longest, size):
        for number, text in arguments.items():
            if text[at : at + size]:
                call = {"index": number, "function": {"arguments": text[at : at + size]}}
                events.append(_event({"tool_calls": [call]}))
    return [*events, _event({}, "tool_calls")]


TOOLS = {
    "tools": [
        {"type": "function", "function": {"name": "pay", "parameters": {
            "type": "object",
            "properties": {"card": {"type": ["integer", "null"]}, "to": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "note"}},
    ]
}  # fmt: skip


@pytest.mark.parametrize("size", [1, 2, 5, 40])
@pytest.mark.parametrize("policy", [GDPR, STRICT], ids=["eager", "conservative"])
async def test_tool_call_arguments_are_guarded_each_on_its_own(size: int, policy: Policy) -> None:
    arguments = {
        0: json.dumps({"card": CARD, "to": "<PERSON_1>"}),
        1: json.dumps({"text": f"Frau Vollmer zahlt mit {CARD} heute", "n": CARD}),
    }
    relayed, applied = await _gateway(_tool_events(arguments, size), policy, answer_formats(TOOLS))
    _, calls, error = _relayed(relayed)
    assert error is None
    assert json.loads(calls[0]) == {"card": None, "to": QUOTED}  # typed: integer or null
    name = "<PERSON>" if policy is STRICT else "Vollmer"
    assert json.loads(calls[1]) == {
        "text": f"Frau {name} zahlt mit <CREDIT_CARD> heute",
        "n": "<CREDIT_CARD>",  # a tool without a schema: any JSON, so a string
    }
    assert applied.answer[("CREDIT_CARD", "mask")] == 3


async def test_a_masked_value_the_schema_has_no_place_for_ends_the_stream() -> None:
    schema = {"type": "object", "properties": {"card": {"type": "integer"}}}
    formats = AnswerFormats(JsonFormat(schema))
    text = json.dumps({"note": "Zahlung", "card": CARD, "rest": "x" * 80})
    relayed, _ = await _gateway(_content_events(text, list(range(3, len(text), 3))), GDPR, formats)
    content, _, error = _relayed(relayed)
    assert error == "pii_masked_in_typed_field"
    assert str(CARD) not in b"".join(relayed).decode()
    assert content.startswith('{"note": "Zahlung",')


async def test_json_answers_keep_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prose inside a JSON answer streams as plain events: never parsed."""
    parsed: list[bytes] = []
    feed_parsed = AnswerGuard.feed_parsed

    async def counting(self: AnswerGuard, chunk: bytes) -> bytes:
        parsed.append(chunk)
        return await feed_parsed(self, chunk)

    monkeypatch.setattr(AnswerGuard, "feed_parsed", counting)
    text = json.dumps(
        {"antwort": "Gern geschehen, danke für Ihre Nachricht. " * 20}, ensure_ascii=False
    )
    chunks = _content_events(text, list(range(4, len(text), 4)))
    relayed, _ = await _gateway(chunks, GDPR, AnswerFormats(JsonFormat()))
    assert json.loads(_relayed(relayed)[0]) == json.loads(text)
    # The role event, the first tokens until one without a quote teaches the event's shape
    # (a quote is escaped in the event), and the finish.
    assert len(parsed) <= 4
