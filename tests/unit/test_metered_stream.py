"""The metering tap on a relayed stream: exact whatever the chunking, the separators and
the answer's text (issue 13: the usual event is metered with four byte tests, no parse).

For random streams (content events whose text may say ``data: [DONE]``, ``"usage":{`` or
``data: {"error"``, a usage event, the engine's error event, ``[DONE]`` or no end), written
with ``\\n\\n`` or ``\\r\\n\\r\\n`` and cut into chunks at random, the tap must find the usage
(and strip it unless asked for), count every content event when no usage came, and call
the stream failed exactly when it did not end with ``[DONE]`` or carried an error.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.usage import Usage
from gateway.metering.stream import MeteredStream, StreamOutcome
from gateway.upstream.forwarder import UpstreamStream

HEAD = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
TEXTS = ["Hallo", " Welt", "data: [DONE]", '"usage":{"prompt_tokens":1}', 'data: {"error"', "\n"]
USAGE = HEAD + b'[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}'
ERROR = b'data: {"error":{"message":"boom","type":"x","param":null,"code":"engine_error"}}'
DONE = b"data: [DONE]"


def content(text: str) -> bytes:
    choice = {"index": 0, "delta": {"content": text}, "finish_reason": None}
    return HEAD + orjson.dumps([choice]) + b"}"


class _Response:
    """An engine's answer as the engine seam gives it (gateway/upstream/engines.py)."""

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


@dataclass
class Metered:
    relayed: bytes
    outcome: StreamOutcome


async def _meter(chunks: list[bytes], *, wants_usage: bool) -> Metered:
    ended: list[StreamOutcome] = []

    async def on_end(outcome: StreamOutcome) -> None:
        ended.append(outcome)

    upstream = UpstreamStream(cast(Any, None), cast(Any, _Response(chunks)))
    stream = MeteredStream(
        upstream,
        client_wants_usage=wants_usage,
        finish_on_disconnect=False,
        on_end=on_end,
        started=0.0,
    )
    relayed = b"".join([event async for event in stream.events()])
    await stream.aclose()
    return Metered(relayed, ended[0])


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[bytes], list[bytes], str]:
    """(the events, the stream's chunks, the separator)."""
    events = [content(t) for t in draw(st.lists(st.sampled_from(TEXTS), max_size=8))]
    if draw(st.booleans()):
        events.append(ERROR)
    if draw(st.booleans()):
        events.append(USAGE)
    if draw(st.integers(0, 3)):
        events.append(DONE)
    separator = draw(st.sampled_from(["\n\n", "\n\n", "\r\n\r\n"]))
    data = b"".join(e + separator.encode() for e in events)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    bounds = [0, *cuts, len(data)]
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    return events, chunks, separator


@settings(max_examples=300, deadline=None)
@given(stream=streams(), wants_usage=st.booleans())
def test_metering_is_exact_whatever_the_chunking(
    stream: tuple[list[bytes], list[bytes], str], wants_usage: bool
) -> None:
    events, chunks, separator = stream
    metered = asyncio.run(_meter(chunks, wants_usage=wants_usage))
    outcome = metered.outcome
    has_usage = USAGE in events
    done = bool(events) and events[-1] == DONE
    assert outcome.usage == (Usage(7, 3) if has_usage else None)
    if not has_usage:
        assert outcome.content_events == sum(e.startswith(HEAD + b"[{") for e in events)
    assert outcome.failed == (ERROR in events or not done)
    assert (b'"usage":{"prompt' in metered.relayed) == (has_usage and wants_usage)
    if done and ERROR not in events:  # relayed as it came, but for the usage event
        kept = [e for e in events if wants_usage or e != USAGE]
        assert metered.relayed == b"".join(e + separator.encode() for e in kept)
    else:  # the relay ended it with an error event (ours, or the engine's own)
        assert b'data: {"error"' in metered.relayed


async def test_an_answer_that_says_done_neither_ends_the_stream_nor_hides_an_event() -> None:
    # Before issue 13 the tap searched each event for "data: [DONE]": an answer quoting the
    # protocol counted as its end, and its event was not counted.
    said = content("Der Stream endet mit data: [DONE]") + b"\n\n"
    metered = await _meter([said, said], wants_usage=False)
    assert metered.outcome.content_events == 2
    assert metered.outcome.failed  # the engine never sent [DONE]
    assert metered.relayed.startswith(said + said + b'data: {"error"')


async def test_events_ended_by_crlf_are_counted() -> None:
    # They were counted as none (and [DONE] as minus one) before.
    chunks = [content("Hal") + b"\r\n\r\n", content("lo") + b"\r\n\r\n" + DONE + b"\r\n\r\n"]
    metered = await _meter(chunks, wants_usage=False)
    assert metered.outcome.content_events == 2
    assert not metered.outcome.failed
