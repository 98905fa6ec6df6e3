"""Restoring placeholders: whole texts, streams split anywhere, JSON arguments, OpenAI bodies."""

from __future__ import annotations

import copy
import itertools
import json
import random
from typing import Any

import pytest

from policies.pseudonym.chunks import ChunkRestorer, restore_body
from policies.pseudonym.restore import StreamRestorer, restore_text

MAPPING = {
    "<PERSON_1>": "Max Müller",
    "<PERSON_12>": 'Erika "Eri" Muster\\mann',  # quote and backslash: JSON must escape them
    "<P_1>": "Pia",
    "<IBAN_1>": "DE89 3704 0044 0532 0130 00",
    "<DE_TAX_ID_2>": "12345678901",
    "<EMAIL_ADDRESS_1>": "<PERSON_1>@example.de",  # looks like a placeholder: never re-read
    "<SECRET_1>": "line one\nline two\t<",
}
LONGEST = max(map(len, MAPPING))
PIECES = [
    *MAPPING,
    "<PERSON_2>",  # unknown: stays
    "<FOO_1>",
    "<PERS",
    "<PERSON_",
    "<DE_TAX",
    "<",
    "<<",
    ">",
    "_1",
    "2>",
    "a",
    "Hallo ",
    "ü",
    " ",
    "\n",
    "PERSON_1>",
    "x < y",
]


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 14)))


def longest_prefix_tail(text: str) -> str:
    """The reference: the longest tail that is a proper prefix of a known placeholder."""
    for start in range(len(text)):
        tail = text[start:]
        if any(name.startswith(tail) and name != tail for name in MAPPING):
            return tail
    return ""


def stream(pieces: list[str], restorer: StreamRestorer | None = None) -> str:
    """Feed ``pieces``; check the hold-back after every feed; return the whole output."""
    restorer = restorer or StreamRestorer(MAPPING)
    fed, out = "", ""
    for piece in pieces:
        out += restorer.feed(piece)
        fed += piece
        held = restorer.held
        assert len(held) < LONGEST
        assert held == longest_prefix_tail(fed)
        # Everything else has been released, already restored.
        assert out == restore_text(fed[: len(fed) - len(held)], MAPPING)
    return out + restorer.flush()


def test_restore_text_replaces_known_placeholders_in_one_pass() -> None:
    text = "<PERSON_1> (<PERSON_12>) wrote to <EMAIL_ADDRESS_1> about <PERSON_2> and <PERSON_1"
    assert restore_text(text, MAPPING) == (
        'Max Müller (Erika "Eri" Muster\\mann) wrote to <PERSON_1>@example.de about '
        "<PERSON_2> and <PERSON_1"
    )
    assert restore_text("no placeholders", MAPPING) == "no placeholders"
    assert restore_text("<PERSON_1>", {}) == "<PERSON_1>"


def test_every_split_in_two_gives_the_whole_restored_text() -> None:
    rng = random.Random(20240601)
    for _ in range(300):
        text = random_text(rng)
        expected = restore_text(text, MAPPING)
        for cut in range(len(text) + 1):
            assert stream([text[:cut], text[cut:]]) == expected, (text, cut)


def test_random_multi_way_splits_give_the_whole_restored_text() -> None:
    rng = random.Random(7)
    for _ in range(500):
        text = random_text(rng)
        expected = restore_text(text, MAPPING)
        for _ in range(10):
            count = min(len(text) + 1, rng.randint(1, 8))
            cuts = sorted(rng.sample(range(len(text) + 1), k=count))
            bounds = [0, *cuts, len(text)]
            pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
            assert stream(pieces) == expected, (text, cuts)
        # One character at a time: the worst case for the hold-back.
        assert stream(list(text)) == expected


def test_only_a_prefix_of_a_known_placeholder_is_held() -> None:
    restorer = StreamRestorer(MAPPING)
    assert restorer.feed("Hallo <PERS") == "Hallo "
    assert restorer.held == "<PERS"
    assert restorer.feed("ON_1") == ""  # a prefix of <PERSON_1> and of <PERSON_12>
    assert restorer.feed("> und <FOO") == "Max Müller und <FOO"  # <FOO... is never known
    assert restorer.held == ""
    assert restorer.feed("<PERSON_1") == ""
    assert restorer.feed("3>") == "<PERSON_13>"  # unknown, released as it is
    assert restorer.feed("<") == ""
    assert restorer.flush() == "<"
    assert restorer.flush() == ""


def test_a_restorer_without_mapping_holds_nothing() -> None:
    restorer = StreamRestorer({})
    assert restorer.feed("<PERS") == "<PERS"
    assert restorer.held == ""


def test_json_escaping_keeps_streamed_arguments_valid_json() -> None:
    arguments = json.dumps(
        {"to": "<PERSON_12>", "cc": ["<PERSON_1>", "<SECRET_1>"], "n": "<FOO_1>"},
        ensure_ascii=False,
    )
    expected = {
        "to": MAPPING["<PERSON_12>"],
        "cc": [MAPPING["<PERSON_1>"], MAPPING["<SECRET_1>"]],
        "n": "<FOO_1>",
    }
    for cut in range(len(arguments) + 1):
        for second in (cut, (cut + 7) % (len(arguments) + 1)):
            a, b = sorted((cut, second))
            restorer = StreamRestorer(MAPPING, json_escape=True)
            pieces = [arguments[:a], arguments[a:b], arguments[b:]]
            out = "".join(restorer.feed(p) for p in pieces) + restorer.flush()
            assert json.loads(out) == expected
    assert json.loads(restore_text(arguments, MAPPING, json_escape=True)) == expected
    # Without escaping the quote in the value would end the string early.
    with pytest.raises(json.JSONDecodeError):
        json.loads(restore_text(arguments, MAPPING))


def test_restore_body_of_a_chat_completion() -> None:
    body: dict[str, Any] = {
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Dear <PERSON_1>, your IBAN <IBAN_1>.",
                    "reasoning_content": "<PERSON_1> asked about <DE_TAX_ID_2>",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {
                                "name": "send",
                                "arguments": '{"to": "<PERSON_12>", "x": "<PERSON_3>"}',
                            },
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            },
            {
                "index": 1,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "function_call": {"name": "f", "arguments": '{"a": "<SECRET_1>"}'},
                },
            },
        ],
    }
    out = restore_body(body, MAPPING)
    first, second = out["choices"][0]["message"], out["choices"][1]["message"]
    assert first["content"] == "Dear Max Müller, your IBAN DE89 3704 0044 0532 0130 00."
    assert first["reasoning_content"] == "Max Müller asked about 12345678901"
    arguments = json.loads(first["tool_calls"][0]["function"]["arguments"])
    assert arguments == {"to": MAPPING["<PERSON_12>"], "x": "<PERSON_3>"}
    assert json.loads(second["function_call"]["arguments"]) == {"a": MAPPING["<SECRET_1>"]}
    assert second["content"] is None


def test_restore_body_of_a_completion_and_with_no_mapping() -> None:
    body = {"object": "text_completion", "choices": [{"index": 0, "text": "Hi <P_1>!"}]}
    untouched = copy.deepcopy(body)
    assert restore_body(copy.deepcopy(body), {}) == untouched
    assert restore_body(body, MAPPING)["choices"][0]["text"] == "Hi Pia!"


def chat_chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": choices,
    }


def content(index: int, text: str, finish: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": {"content": text}, "finish_reason": finish}


def collected(chunks: list[dict[str, Any]]) -> dict[int, str]:
    """The content of each choice, as a client concatenates it."""
    out: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            delta = choice.get("delta", {})
            out[choice["index"]] = out.get(choice["index"], "") + (delta.get("content") or "")
    return out


def test_chunks_of_two_choices_are_restored_separately() -> None:
    restorer = ChunkRestorer(MAPPING)
    stream_in = [
        chat_chunk([content(0, "Hallo <PER"), content(1, "Hi <P")]),
        chat_chunk([content(1, "_1>, <PERSON_1")]),
        chat_chunk([content(0, "SON_12> und <")]),
        chat_chunk([content(0, "IBAN_1>"), content(1, "2> ok <PERS", "stop")]),
        chat_chunk([content(0, " fertig <DE_TA", "length")]),
    ]
    out = [restorer.on_chunk(chunk) for chunk in stream_in]
    assert out[0]["choices"][0]["delta"]["content"] == "Hallo "
    assert out[0]["choices"][1]["delta"]["content"] == "Hi "
    # The finish of choice 1 flushes its held "<PERS" into the same chunk, before the finish.
    assert out[3]["choices"][1]["delta"]["content"] == f"{MAPPING['<PERSON_12>']} ok <PERS"
    assert out[3]["choices"][1]["finish_reason"] == "stop"
    assert collected(out) == {
        0: f"Hallo {MAPPING['<PERSON_12>']} und {MAPPING['<IBAN_1>']} fertig <DE_TA",
        1: f"Hi Pia, {MAPPING['<PERSON_12>']} ok <PERS",
    }
    assert restorer.drain() is None  # every choice finished: nothing left


def tool_delta(index: int, call: int, arguments: str, **first: Any) -> dict[str, Any]:
    return {
        "index": index,
        "delta": {"tool_calls": [{"index": call, "function": {"arguments": arguments}, **first}]},
        "finish_reason": None,
    }


def test_tool_call_arguments_are_restored_json_escaped_per_call() -> None:
    restorer = ChunkRestorer(MAPPING)
    first = '{"to": "<PERSON_12>", "iban": "<IBAN_1>"}'
    second = '{"who": "<SECRET_1>"}'
    stream_in = [chat_chunk([tool_delta(0, 0, "", id="call_a", type="function")])]
    stream_in += [chat_chunk([tool_delta(0, 0, first[i : i + 3])]) for i in range(0, 39, 3)]
    stream_in += [chat_chunk([tool_delta(0, 1, second[:12], id="call_b", type="function")])]
    stream_in += [chat_chunk([tool_delta(0, 0, first[39:])])]  # call 0 ends "<IBAN_1>"}
    stream_in += [chat_chunk([tool_delta(0, 1, second[12:15])])]  # "<SECRE": held
    # The finish chunk carries no tool call: the held tail gets an entry of its own.
    stream_in += [chat_chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}])]
    out = [restorer.on_chunk(chunk) for chunk in stream_in]
    assert out[-1]["choices"][0]["delta"]["tool_calls"] == [
        {"index": 1, "function": {"arguments": "<SECRE"}}
    ]
    arguments: dict[int, str] = {}
    for chunk in out:
        for call in chunk["choices"][0]["delta"].get("tool_calls", []):
            arguments[call["index"]] = (
                arguments.get(call["index"], "") + call["function"]["arguments"]
            )
    assert json.loads(arguments[0]) == {"to": MAPPING["<PERSON_12>"], "iban": MAPPING["<IBAN_1>"]}
    assert arguments[1] == '{"who": "<SECRE'  # cut off: released as it is at the finish


def test_legacy_function_call_arguments_are_restored() -> None:
    restorer = ChunkRestorer(MAPPING)
    pieces = ['{"a": "<PER', 'SON_1>"}']
    out = [
        restorer.on_chunk(chat_chunk([{"index": 0, "delta": {"function_call": {"arguments": p}}}]))
        for p in pieces
    ]
    text = "".join(c["choices"][0]["delta"]["function_call"]["arguments"] for c in out)
    assert json.loads(text) == {"a": "Max Müller"}


def test_drain_emits_what_is_held_when_the_stream_ends_without_finish() -> None:
    restorer = ChunkRestorer(MAPPING)
    restorer.on_chunk(chat_chunk([content(0, "a <PERSON_1"), content(1, "b <P_")]))
    restorer.on_chunk(
        chat_chunk([{"index": 0, "delta": {"reasoning_content": "hm <IBA"}, "finish_reason": None}])
    )
    last = restorer.drain()
    assert last == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": None,
                "delta": {"content": "<PERSON_1", "reasoning_content": "<IBA"},
            },
            {"index": 1, "finish_reason": None, "delta": {"content": "<P_"}},
        ],
    }
    assert restorer.drain() is None


def test_text_completion_chunks_and_usage_chunks() -> None:
    restorer = ChunkRestorer(MAPPING)

    def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
        return {"id": "cmpl-1", "object": "text_completion", "choices": [choice]}

    texts = [restorer.on_chunk(chunk(t))["choices"][0]["text"] for t in ("Hi <P", "_1> <DE")]
    last = restorer.on_chunk(chunk("_TAX", "stop"))
    assert texts == ["Hi ", "Pia "]
    assert last["choices"][0]["text"] == "<DE_TAX"
    usage = {"id": "cmpl-1", "choices": [], "usage": {"total_tokens": 3}}
    assert restorer.on_chunk(usage) is usage


def test_a_chunk_restorer_without_mapping_passes_chunks_through() -> None:
    restorer = ChunkRestorer({})
    chunk = chat_chunk([content(0, "<PERSON_1>")])
    assert restorer.on_chunk(chunk)["choices"][0]["delta"]["content"] == "<PERSON_1>"
    assert restorer.drain() is None
