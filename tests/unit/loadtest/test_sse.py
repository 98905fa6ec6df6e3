"""TTFT, ITL and failures measured from a fake event stream with a fake clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from loadtest.sse import SseDecoder, StreamMeter, http_error, measure_stream, read_response


def event(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def text(content: str) -> bytes:
    return event({"choices": [{"index": 0, "delta": {"content": content}}]})


ROLE = event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
FINISH = event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
DONE = b"data: [DONE]\n\n"


def usage(prompt: int, completion: int) -> bytes:
    return event(
        {"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}
    )


def timed(*arrivals: tuple[float, bytes]) -> StreamMeter:
    meter = StreamMeter(started=10.0)
    for at, chunk in arrivals:
        meter.feed(chunk, at)
    return meter


def test_ttft_is_the_first_text_not_the_role_chunk_and_itl_is_the_mean_gap() -> None:
    meter = timed(
        (10.10, ROLE),
        (10.30, text("Guten")),
        (10.35, text(" Tag")),
        (10.40, text(",")),
        (10.45, text(" bitte") + FINISH),
        (10.46, usage(prompt=321, completion=4) + DONE),
    )
    result = meter.finish(10.5)
    assert result.ok
    assert result.error is None
    assert result.ttft_ms == pytest.approx(300.0)
    assert result.itl_ms == pytest.approx(50.0)  # (10.45 - 10.30) / (4 - 1)
    assert result.total_ms == pytest.approx(500.0)
    assert result.tokens_per_s == pytest.approx(8.0)  # 4 tokens in 0.5 s
    assert (result.output_tokens, result.prompt_tokens) == (4, 321)
    assert result.text == "Guten Tag, bitte"


def test_usage_counts_tokens_when_a_chunk_carries_several() -> None:
    meter = timed((10.2, text("Guten Tag")), (10.6, text(", bitte")), (10.6, usage(9, 5) + DONE))
    result = meter.finish(10.7)
    assert result.output_tokens == 5
    assert result.itl_ms == pytest.approx(100.0)  # 400 ms over 4 gaps


def test_without_usage_the_text_chunks_are_counted() -> None:
    result = timed((10.2, text("a")), (10.3, text("b")), (10.4, text("c") + DONE)).finish(10.4)
    assert result.output_tokens == 3
    assert result.prompt_tokens is None
    assert result.itl_ms == pytest.approx(100.0)


def test_one_token_has_a_ttft_but_no_itl() -> None:
    result = timed((10.25, text("Ja") + usage(5, 1) + DONE)).finish(10.3)
    assert result.ttft_ms == pytest.approx(250.0)
    assert result.itl_ms is None


def test_in_band_error_fails_the_request_and_ends_the_measurement() -> None:
    error = {"error": {"message": "engine died", "type": "upstream_error", "code": None}}
    result = timed((10.2, text("a")), (10.3, event(error)), (10.4, text("b") + DONE)).finish(10.5)
    assert not result.ok
    assert result.error == "upstream_error: engine died"
    assert result.ttft_ms is None


def test_vllm_error_objects_and_garbage_fail_too() -> None:
    vllm = {"object": "error", "message": "too long", "type": "BadRequestError", "code": 400}
    assert timed((10.1, event(vllm))).finish(10.2).error == "BadRequestError: too long"
    assert "undecodable" in (timed((10.1, event("{not json"))).finish(10.2).error or "")
    assert "unexpected" in (timed((10.1, event("[1, 2]"))).finish(10.2).error or "")


def test_a_stream_cut_before_done_is_a_failure() -> None:
    result = timed((10.1, text("a")), (10.2, text("b"))).finish(10.3)
    assert not result.ok
    assert result.error == "stream ended without [DONE]"


def test_decoder_is_indifferent_to_chunking_line_endings_and_comments() -> None:
    whole = b": ping\n\n" + text("a") + b"data: [DONE]\r\n\r\n"
    for size in (1, 3, 7, len(whole)):
        decoder = SseDecoder()
        parts = [whole[i : i + size] for i in range(0, len(whole), size)]
        payloads = [p for part in parts for p in decoder.feed(part)]
        assert payloads == [
            json.dumps({"choices": [{"index": 0, "delta": {"content": "a"}}]}),
            "[DONE]",
        ]
    decoder = SseDecoder()
    assert decoder.feed(b"event: x\ndata: one\ndata:two\n\ndata: tail") == ["one\ntwo"]
    assert decoder.close() == ["tail"]


def test_measure_stream_stamps_each_chunk_as_it_arrives() -> None:
    ticks = iter([10.2, 10.3, 10.5, 10.6])

    def clock() -> float:
        return next(ticks)

    def chunks() -> Iterator[bytes]:
        yield ROLE
        yield text("a")
        yield text("b") + usage(3, 2) + DONE

    result = measure_stream(chunks(), started=10.0, clock=clock)
    assert result.ttft_ms == pytest.approx(300.0)
    assert result.itl_ms == pytest.approx(200.0)
    assert result.total_ms == pytest.approx(600.0)


def test_http_errors_keep_openai_s_message() -> None:
    body = json.dumps({"error": {"message": "bad key", "type": "invalid_request_error"}})
    assert http_error(401, body.encode()) == "HTTP 401: invalid_request_error: bad key"
    assert http_error(502, b"<html>Bad Gateway</html>") == "HTTP 502: <html>Bad Gateway</html>"


class FakeResponse:
    """A ``requests`` response opened with ``stream=True``, as Locust hands it over."""

    def __init__(self, status: int, chunks: list[bytes], fail_after: int | None = None) -> None:
        self.status_code = status
        self.content = b"".join(chunks)
        self.raw: object = object() if status else None
        self.error = ConnectionRefusedError("[Errno 111] Connection refused")
        self.closed = False
        self._chunks, self._fail_after = chunks, fail_after

    def iter_content(self, chunk_size: int | None) -> Iterator[bytes]:
        assert chunk_size is None  # anything else waits for 512 bytes before yielding
        for index, chunk in enumerate(self._chunks):
            if index == self._fail_after:
                raise OSError("ChunkedEncodingError: connection broken")
            yield chunk

    def close(self) -> None:
        self.closed = True


def _clock() -> float:
    return 11.0


def test_read_response_measures_a_stream_and_closes_it() -> None:
    response = FakeResponse(200, [ROLE, text("a"), text("b") + usage(3, 2) + DONE])
    result = read_response(response, 10.0, _clock)
    assert result.ok
    assert result.output_tokens == 2
    assert response.closed


def test_read_response_turns_every_kind_of_trouble_into_a_failure() -> None:
    refused = read_response(FakeResponse(0, []), 10.0, _clock)
    assert refused.error == "[Errno 111] Connection refused"
    assert refused.total_ms == pytest.approx(1000.0)
    body = json.dumps({"error": {"message": "no engine", "type": "no_engine_available"}})
    unavailable = read_response(FakeResponse(503, [body.encode()]), 10.0, _clock)
    assert unavailable.error == "HTTP 503: no_engine_available: no engine"
    broken = FakeResponse(200, [ROLE, text("a"), DONE], fail_after=2)
    assert (
        read_response(broken, 10.0, _clock).error
        == "OSError: ChunkedEncodingError: connection broken"
    )
    assert broken.closed
