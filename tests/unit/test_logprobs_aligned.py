"""Logprobs move with their text through the policy (issue 14, "Streams").

Events as vLLM 0.32 writes them with ``logprobs`` (chat: ``choices[].logprobs.content[]``;
completions: ``tokens``/``token_logprobs``/``top_logprobs``/``text_offset``), through the
guard and restorer of gdpr-default: in every event the tokens concatenate to its text;
masked and restored stretches are one entry (logprob: the covered tokens' sum).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

from gateway.privacy.analysis import AnalysisService
from gateway.privacy.answer import StreamRestoring, filter_body
from gateway.privacy.applied import Applied
from gateway.privacy.event_shape import shape_of
from gateway.privacy.stream_guard import AnswerGuard, GuardedStream
from policies.analyzer import build_analyzer
from policies.model import load_preset

POLICY = load_preset("gdpr-default")
MAPPING = {"<PERSON_1>": "Annette Brandmeier"}
IBAN = "DE89 3704 0044 0532 0130 00"
ANSWER = f"Gern, <PERSON_1>: 2024 waren es 365 Tage. Konto {IBAN} ist neu, sagt <PERSON_1>."


@pytest.fixture(scope="module")
def analysis() -> Iterator[AnalysisService]:
    service = AnalysisService(build_analyzer(), threads=1)
    yield service
    service.close()


def _tokens(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _chat(tokens: list[str], finish: str | None = None) -> bytes:
    """A vLLM chat chunk with one event's tokens and their logprobs (compact JSON)."""
    content = [
        {
            "token": t,
            "logprob": -0.5,
            "bytes": list(t.encode()),
            "top_logprobs": [{"token": t, "logprob": -0.5, "bytes": list(t.encode())}],
        }
        for t in tokens
    ]
    choice = {
        "index": 0,
        "delta": {"content": "".join(tokens)},
        "logprobs": {"content": content} if tokens else None,
        "finish_reason": finish,
    }
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return b"data: " + orjson.dumps({**chunk, "choices": [choice]}) + b"\n\n"


def _completion(tokens: list[str], offset: int, finish: str | None = None) -> bytes:
    offsets, at = [], offset
    for t in tokens:
        offsets.append(at)
        at += len(t)
    choice = {
        "index": 0,
        "text": "".join(tokens),
        "logprobs": {
            "text_offset": offsets,
            "token_logprobs": [-0.25 for _ in tokens],
            "tokens": tokens,
            "top_logprobs": [{t: -0.25} for t in tokens],
        },
        "finish_reason": finish,
        "stop_reason": None,
    }
    chunk = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m"}
    return b"data: " + orjson.dumps({**chunk, "choices": [choice]}) + b"\n\n"


class _Source:
    finish_on_disconnect = False

    def __init__(self, events: list[bytes]) -> None:
        self._events = events

    async def events(self) -> AsyncIterator[bytes]:
        for event in self._events:
            yield event

    async def aclose(self, *, client_gone: bool = False) -> None:
        return None


async def _guarded(analysis: AnalysisService, events: list[bytes]) -> list[dict[str, Any]]:
    guard = AnswerGuard(analysis, Applied(POLICY, "enforce", tenant="t"))
    relayed = [e async for e in GuardedStream(_Source(events), guard, MAPPING).events()]
    assert all(e.endswith(b"\n\n") for e in relayed)  # framed
    documents = [event[6:] for e in relayed for event in e.split(b"\n\n") if event]
    return [json.loads(d) for d in documents if d.startswith(b"{")]


def _chat_parts(document: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    choice = document["choices"][0]
    logprobs = choice.get("logprobs") or {"content": []}
    return choice["delta"].get("content") or "", logprobs["content"] or []


EXPECTED = ANSWER.replace("<PERSON_1>", "Annette Brandmeier").replace(IBAN, "<IBAN>")


async def test_chat_stream_logprobs_match_the_text_of_every_event(
    analysis: AnalysisService,
) -> None:
    tokens = _tokens(ANSWER)
    events = [_chat([t]) for t in tokens] + [_chat([], "stop")]
    relayed = await _guarded(analysis, events)
    texts = []
    for document in relayed:
        text, entries = _chat_parts(document)
        assert "".join(e["token"] for e in entries) == text  # aligned in every event
        for entry in entries:
            assert bytes(entry["bytes"]) == entry["token"].encode()
        texts.append(text)
    assert "".join(texts) == EXPECTED
    entries = [e for d in relayed for e in _chat_parts(d)[1]]
    (iban,) = [e for e in entries if "<IBAN>" in e["token"]]
    assert iban["top_logprobs"] == []  # no alternatives to a value
    at = ANSWER.index(IBAN)
    covered = [i for i in range(0, len(ANSWER), 3) if i < at + len(IBAN) and i + 3 > at]
    assert iban["logprob"] == pytest.approx(-0.5 * len(covered))  # the covered tokens' sum
    names = [e for e in entries if "Annette Brandmeier" in e["token"]]
    assert len(names) == 2
    assert all(e["top_logprobs"] == [] for e in names)
    assert not any(IBAN[:9] in e["token"] or "<PERSON" in e["token"] for e in entries)
    plain = [e for e in entries if e["token"] == "Tag"]
    assert plain
    assert plain[0]["top_logprobs"] == [{"token": "Tag", "logprob": -0.5, "bytes": [84, 97, 103]}]


async def test_events_that_arrive_together_are_aligned_each(analysis: AnalysisService) -> None:
    """The relay may bring several events in one chunk: the role event (no logprobs) and
    the first tokens' (vLLM, when the engine is quick)."""
    role = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
    role += b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
    role += b'"logprobs":null,"finish_reason":null}]}\n\n'
    tokens = _tokens(ANSWER)
    events = [role + _chat([tokens[0]]) + _chat([tokens[1]])]
    events += [_chat([t]) for t in tokens[2:]] + [_chat([], "stop")]
    relayed = await _guarded(analysis, events)
    for document in relayed:
        text, entries = _chat_parts(document)
        assert "".join(e["token"] for e in entries) == text
    assert "".join(_chat_parts(d)[0] for d in relayed) == EXPECTED


async def test_completion_stream_logprobs_and_offsets_follow_the_text(
    analysis: AnalysisService,
) -> None:
    tokens = _tokens(ANSWER, 2)
    events, at = [], 7  # a 7-character prompt before the answer
    for t in tokens:
        events.append(_completion([t], at))
        at += len(t)
    events.append(_completion([], at, "stop"))
    relayed = await _guarded(analysis, events)
    texts, offset = [], 7
    for document in relayed:
        choice = document["choices"][0]
        logprobs = choice["logprobs"]
        assert "".join(logprobs["tokens"]) == choice["text"]
        assert len(logprobs["token_logprobs"]) == len(logprobs["tokens"])
        for token, start in zip(logprobs["tokens"], logprobs["text_offset"], strict=True):
            assert start == offset
            offset += len(token)
        texts.append(choice["text"])
    assert "".join(texts) == EXPECTED


async def test_whole_answers_have_their_logprobs_regrouped(analysis: AnalysisService) -> None:
    tokens = _tokens(ANSWER)
    entries = [
        {"token": t, "logprob": -1.0, "bytes": list(t.encode()), "top_logprobs": []} for t in tokens
    ]
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER},
                "logprobs": {"content": entries},
                "finish_reason": "stop",
            }
        ],
    }
    applied = Applied(POLICY, "enforce", tenant="t", mapping=MAPPING)
    answer = json.loads(await filter_body(analysis, applied, orjson.dumps(body)))
    choice = answer["choices"][0]
    assert choice["message"]["content"] == EXPECTED
    assert "".join(e["token"] for e in choice["logprobs"]["content"]) == EXPECTED


async def test_an_echoed_prompt_and_its_logprobs_are_restored(analysis: AnalysisService) -> None:
    """``echo``: the engine saw placeholders; the client gets its own values back, and a
    value masked in the prompt stays masked."""
    prompt = "Kunde <PERSON_1>, Karte <CREDIT_CARD>. Antwort:"
    answer = " Danke, <PERSON_1>."
    tokens = _tokens(prompt + answer, 4)
    values = [None, *[-0.75] * (len(tokens) - 1)]  # the prompt's first token has none
    offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    body = {
        "id": "cmpl-1",
        "object": "text_completion",
        "choices": [
            {
                "index": 0,
                "text": prompt + answer,
                "logprobs": {
                    "text_offset": offsets,
                    "token_logprobs": values,
                    "tokens": tokens,
                    "top_logprobs": [None, *[{t: -0.75} for t in tokens[1:]]],
                },
                "finish_reason": "length",
            }
        ],
    }
    applied = Applied(POLICY, "enforce", tenant="t", mapping=MAPPING)
    whole = json.loads(await filter_body(analysis, applied, orjson.dumps(body)))
    expected = (prompt + answer).replace("<PERSON_1>", "Annette Brandmeier")
    choice = whole["choices"][0]
    assert choice["text"] == expected
    assert "".join(choice["logprobs"]["tokens"]) == expected
    assert "<CREDIT_CARD>" in expected
    # Streamed (vLLM sends the echoed prompt first, then the answer's tokens).
    events = [_completion(tokens[:12], 0)]
    events += [_completion([t], offsets[i]) for i, t in enumerate(tokens) if i >= 12]
    events.append(_completion([], len(prompt + answer), "length"))
    restoring = StreamRestoring(MAPPING)
    restored = [restoring(e) for e in events]
    assert all(e.endswith(b"\n\n") for e in restored)
    relayed = [json.loads(e[6:])["choices"][0] for e in restored]
    assert "".join(c["text"] for c in relayed) == expected
    for choice in relayed:
        assert "".join(choice["logprobs"]["tokens"]) == choice["text"]


def test_a_text_event_with_logprobs_is_no_plain_shape() -> None:
    """Its bytes would let a later event's text be rewritten with the logprobs left as they
    were: such events are parsed (and aligned), never relayed by shape."""
    event = _chat(["Hal"])
    assert shape_of(event, json.loads(event[6:])) is None
    plain = event.replace(
        event[event.index(b'"logprobs":') : event.index(b',"finish')], b'"logprobs":null'
    )
    assert shape_of(plain, json.loads(plain[6:])) is not None
