"""The provenance chunk of a stream, on a fake source: where it goes, what it signs, and no
token for a stream that did not end."""

from __future__ import annotations

import asyncio

import orjson

from gateway.provenance.stream import ProvenanceStream
from tests.provenance.typed_events import FakeSource


def _event(index: int, content: str) -> bytes:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": "smollm2",
        "choices": [{"index": index, "delta": {"content": content}}],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _relay(chunks: list[bytes]) -> tuple[bytes, list[str], FakeSource]:
    signed: list[str] = []
    source = FakeSource(chunks)

    def sign(text: str) -> str:
        signed.append(text)
        return f"token-of-{len(signed)}"

    stream = ProvenanceStream(source, sign)

    async def run() -> bytes:
        out = b"".join([chunk async for chunk in stream.events()])
        await stream.aclose(client_gone=False)
        return out

    return asyncio.run(run()), signed, source


def test_the_token_chunk_comes_right_before_done() -> None:
    tricky = 'say "data: [DONE]" twice'  # in a JSON string: not the end of the stream
    chunks = [_event(0, "Hal"), _event(0, tricky), _event(0, "lo") + b"data: [DONE]\n\n"]
    out, signed, source = _relay(chunks)
    assert signed == ["Hal" + tricky + "lo"]
    events = [e for e in out.split(b"\n\n") if e]
    assert events[-1] == b"data: [DONE]"
    last = orjson.loads(events[-2][len(b"data: ") :])
    assert last == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": "smollm2",
        "choices": [],
        "provenance": {"token": "token-of-1"},
    }
    assert source.closed is False  # closed through, as the relay closes it


def test_a_stream_without_done_gets_no_token() -> None:
    failed = b'data: {"error": {"message": "engine failed"}}\n\n'
    out, signed, _ = _relay([_event(0, "Hal"), failed])
    assert signed == []
    assert b"provenance" not in out


def test_choices_are_signed_in_index_order() -> None:
    out, signed, _ = _relay([_event(1, "B"), _event(0, "A"), _event(1, "b"), b"data: [DONE]\n\n"])
    assert signed == ["ABb"]
    assert out.endswith(b"data: [DONE]\n\n")
