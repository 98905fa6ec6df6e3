"""The token in the end event of a Responses API or Anthropic Messages stream, on a fake
source: where it goes, what it signs (the same text as the whole answer's), that every other
event passes untouched, and no token for a stream that failed or did not end."""

from __future__ import annotations

import orjson
import pytest

from gateway.provenance.answer_text import whole_text
from tests.provenance.typed_events import (
    data_of,
    event,
    messages_events,
    relay,
    responses_events,
)

TRICKY = 'say "event: message_stop\\n" and event: response.completed'


@pytest.mark.parametrize("end", ["response.completed", "response.incomplete"])
def test_a_responses_stream_ends_with_the_token_in_its_response(end: str) -> None:
    chunks = responses_events(["Hal", TRICKY, "lo"], end=end)
    out, signed = relay(chunks, "responses")
    assert signed == ["Hal" + TRICKY + "lo"]
    assert out[:-1] == chunks[:-1]  # every other event as it came, one chunk for each
    last = data_of(out[-1])
    assert out[-1].startswith(f"event: {end}\ndata: ".encode())
    assert out[-1].endswith(b"\n\n")
    assert last["response"]["provenance"] == {"token": "token-1"}
    del last["response"]["provenance"]
    assert last == data_of(chunks[-1])
    # The whole answer's text (answer_text.whole_text) is the text the deltas made.
    assert whole_text(orjson.dumps(last["response"])) == signed[0]


@pytest.mark.parametrize("end", ["response.failed", "error"])
def test_a_failed_responses_stream_gets_no_token(end: str) -> None:
    chunks = responses_events(["Hal", "lo"])[:-1]
    chunks.append(event(end, {"type": end, "response": {"status": "failed", "output": []}}))
    out, signed = relay(chunks, "responses")
    assert signed == []
    assert out == chunks


def test_a_stream_cut_short_gets_no_token() -> None:
    chunks = responses_events(["Hal", "lo"])[:5]
    assert relay(chunks, "responses") == (chunks, [])
    chunks = messages_events(["Hal", "lo"], stop=False)
    assert relay(chunks, "messages") == (chunks, [])


def test_events_written_together_are_read_one_by_one() -> None:
    chunks = responses_events(["A", "b"])
    out, signed = relay([b"".join(chunks[:4]), b"".join(chunks[4:])], "responses")
    assert signed == ["Ab"]
    assert len(out) == 2
    assert out[0] == b"".join(chunks[:4])
    assert data_of(out[1].split(b"\n\n")[-2])["response"]["provenance"] == {"token": "token-1"}


def test_items_are_signed_in_output_order_as_the_whole_answer_has_them() -> None:
    def delta(output: int, text: str) -> bytes:
        kind = "response.output_text.delta"
        return event(kind, {"type": kind, "output_index": output, "content_index": 0,
                            "delta": text})  # fmt: skip

    end = event("response.completed", {"type": "response.completed", "response": {"output": []}})
    _, signed = relay([delta(1, "B"), delta(0, "A"), delta(1, "b"), end], "responses")
    assert signed == ["ABb"]


def test_a_messages_stream_ends_with_the_token_in_message_stop() -> None:
    chunks = messages_events(["Hal", TRICKY, "lo"])
    thinking = event("content_block_delta", {"type": "content_block_delta", "index": 1,
                                             "delta": {"type": "thinking_delta",
                                                       "thinking": "hmm"}})  # fmt: skip
    chunks.insert(3, thinking)  # not the text the user reads: not signed
    out, signed = relay(chunks, "messages")
    assert signed == ["Hal" + TRICKY + "lo"]
    assert out[:-1] == chunks[:-1]
    assert out[-1] == event(
        "message_stop", {"type": "message_stop", "provenance": {"token": "token-1"}}
    )
    whole = {"type": "message", "content": [{"type": "text", "text": signed[0]}]}
    assert whole_text(orjson.dumps(whole)) == signed[0]


def test_a_message_stop_without_data_is_given_its_token() -> None:
    chunks = [*messages_events(["Hi"], stop=False), b"event: message_stop\n\n"]
    out, signed = relay(chunks, "messages")
    assert signed == ["Hi"]
    assert data_of(out[-1]) == {"type": "message_stop", "provenance": {"token": "token-1"}}


def test_an_anthropic_error_gets_no_token() -> None:
    error = event("error", {"type": "error", "error": {"type": "api_error", "message": "x"}})
    chunks = [*messages_events(["Hal"], stop=False), error]
    assert relay(chunks, "messages") == (chunks, [])
