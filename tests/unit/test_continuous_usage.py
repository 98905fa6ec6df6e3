"""Per-chunk usage on the metering tap (issue 14): taken out by bytes unless the client asked
for it, whatever the chunking, and metered when a stream is cut short.

The engine streams with the options the gateway sends it (``engine_options``); the client
must receive, byte for byte, the stream vLLM would have sent for its own options.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.usage import Usage
from gateway.metering.stream import MeteredStream, StreamOutcome
from gateway.metering.stream_usage import (
    ContinuousUsage,
    UsageAsked,
    engine_options,
    member_end,
    without_usage,
)
from gateway.metering.usage import USAGE_MARK
from gateway.upstream.forwarder import UpstreamStream
from tests.unit.vllm_stream import HEAD, chat_stream

OPTIONS: list[Any] = [
    None,
    {"include_usage": True},
    {"continuous_usage_stats": True},
    {"include_usage": True, "continuous_usage_stats": True},
]
TEXTS = ["Guten", " Tag", ", ", '"usage":{', " data: [DONE]", '"finish_reason":"stop"', "!"]


class _Response:
    status = 200
    content_type = "text/event-stream"

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk

    async def read(self) -> bytes:
        return b"".join(self._chunks)

    async def aclose(self) -> None:
        return None


async def _relay(
    chunks: list[bytes], asked: UsageAsked, *, n: int = 1, take: int | None = None
) -> tuple[bytes, StreamOutcome]:
    """Relay ``chunks``; with ``take``, the client leaves after that many events."""
    ended: list[StreamOutcome] = []

    async def on_end(outcome: StreamOutcome) -> None:
        ended.append(outcome)

    stream = MeteredStream(
        UpstreamStream(cast(Any, None), cast(Any, _Response(chunks))),
        client_wants_usage=asked.final,
        client_wants_continuous=asked.continuous,
        continuous=ContinuousUsage(n),
        finish_on_disconnect=False,
        on_end=on_end,
        started=0.0,
    )
    relayed = b""
    async for event in stream.events():
        relayed += event
        if take is not None and relayed.count(b"\n\n") >= take:
            break
    await stream.aclose(client_gone=take is not None)
    return relayed, ended[0]


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@settings(max_examples=200, deadline=None)
@given(
    options=st.sampled_from(OPTIONS),
    abort=st.booleans(),
    texts=st.lists(st.sampled_from(TEXTS), min_size=1, max_size=6),
    cuts=st.lists(st.integers(0, 4000), max_size=6),
)
def test_the_client_gets_what_vllm_would_send_for_its_options_whatever_the_chunking(
    options: Any, abort: bool, texts: list[str], cuts: list[int]
) -> None:
    asked = UsageAsked.of(options)
    sent = engine_options(options, asked, continuous=abort)
    engine = b"".join(chat_stream(sent, texts))
    relayed, outcome = asyncio.run(_relay(_cut(engine, cuts), asked))
    assert relayed == b"".join(chat_stream(options, texts))
    assert outcome.usage == Usage(9, len(texts))
    assert not outcome.partial
    assert not outcome.failed


async def test_a_stream_cut_short_is_metered_from_the_last_per_chunk_usage() -> None:
    sent = engine_options(None, UsageAsked(), continuous=True)
    events = chat_stream(sent, ["Es", " war", " ein", "mal", " ein"])
    relayed, outcome = await _relay(events, UsageAsked(), take=4)
    assert outcome.usage == Usage(9, 3)  # the role chunk, then three tokens
    assert outcome.partial
    assert outcome.client_gone
    assert not outcome.failed
    assert USAGE_MARK not in relayed
    assert outcome.content_events == 4


async def test_several_choices_count_each_choices_tokens_and_the_prompt_once() -> None:
    def event(index: int, completion: int) -> bytes:
        choice = b'[{"index":%d,"delta":{"content":"x"},"logprobs":null,"finish_reason":null}]'
        usage = b'{"prompt_tokens":9,"total_tokens":%d,"completion_tokens":%d}'
        return (
            HEAD
            + b',"choices":'
            + choice % index
            + b',"usage":'
            + usage % (9 + completion, completion)
            + b"}\n\n"
        )

    chunks = [event(0, 1), event(1, 1), event(0, 2), event(1, 2), event(1, 3)]
    _, outcome = await _relay(chunks, UsageAsked(), n=2, take=5)
    assert outcome.usage == Usage(9, 5)


def test_usage_is_taken_out_by_bytes_or_parsed_when_it_has_another_form() -> None:
    flat = HEAD + b',"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":null}}\n\n'
    at = flat.find(USAGE_MARK)
    assert member_end(flat, at) == len(flat) - 3
    assert without_usage(flat, at) == HEAD + b',"choices":[]}\n\n'
    nested = HEAD + b',"choices":[],"usage":{"prompt_tokens":1,"d":{"r":2}},"x":1}\n\n'
    at = nested.find(USAGE_MARK)
    assert member_end(nested, at) == -1
    assert without_usage(nested, at) == HEAD + b',"choices":[],"x":1}\n\n'


def test_the_engine_is_asked_for_per_chunk_usage_only_when_needed() -> None:
    none, final = UsageAsked(), UsageAsked(final=True)
    assert engine_options(None, none, continuous=False) == {"include_usage": True}
    assert engine_options(None, none, continuous=True) == {
        "include_usage": True,
        "continuous_usage_stats": True,
    }
    # vLLM ignores continuous_usage_stats without include_usage: so does what the engine gets.
    alone = {"continuous_usage_stats": True}
    assert engine_options(alone, UsageAsked.of(alone), continuous=False) == {
        "include_usage": True,
        "continuous_usage_stats": False,
    }
    assert engine_options({"include_usage": True}, final, continuous=False) == {
        "include_usage": True
    }
