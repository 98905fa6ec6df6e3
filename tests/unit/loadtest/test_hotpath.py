"""The hot path benchmark's pure parts: variants, arithmetic, the msgspec check and its
400s, SSE splitting and error translation, the tap, py-spy attribution, the engine's and
the client's bytes. No timing is asserted: the benchmark's figures are its output."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httptools
import orjson
import pytest

from gateway.errors import InvalidRequest, UpstreamError
from loadtest.hotpath import engine
from loadtest.hotpath.bodies import INVALID, realistic, request
from loadtest.hotpath.client import request_bytes
from loadtest.hotpath.measure import Phase, Spread, percentile, slope
from loadtest.hotpath.profile import parse_raw, stage_of
from loadtest.hotpath.relaying import Meter
from loadtest.hotpath.report import changed, us
from loadtest.hotpath.upstreams import sse_events
from loadtest.hotpath.validation import (
    msgspec_prepare,
    param_of,
    pydantic_prepare,
    too_big,
)
from loadtest.hotpath.variants import COMPONENTS, MAIN, TODAY, Variant, rotated


def test_variant_names_round_trip_and_impossible_ones_are_refused() -> None:
    for variant in (*MAIN, *COMPONENTS):
        assert Variant.parse(variant.name) == variant
    assert Variant.parse("uvicorn/bare/msgspec/aiohttp:tap").mode == "tap"
    assert Variant.parse("floor/none/none/raw").server == "floor"
    assert Variant.parse("callback/none/msgspec/raw").server == "callback"
    for name in (
        "uvicorn/fastapi/msgspec/aiohttp",  # FastAPI's body parameter is pydantic
        "granian-rsgi/fastapi/pydantic/aiohttp",  # no FastAPI on RSGI
        "hypercorn/bare/msgspec/aiohttp",
        "uvicorn/bare/msgspec",
        "uvicorn/bare/msgspec/aiohttp:write",
        "uvicorn/none/none/raw",  # the floor's parts make only the floor
        "floor/bare/msgspec/aiohttp",
        "callback/none/pydantic/raw",
    ):
        with pytest.raises(ValueError, match=r"."):
            Variant.parse(name)


def test_rounds_rotate_which_variant_goes_first() -> None:
    firsts = {rotated(MAIN, turn)[0] for turn in range(len(MAIN))}
    assert firsts == set(MAIN)
    assert sorted(rotated(MAIN, 3), key=MAIN.index) == list(MAIN)
    assert rotated((), 2) == []


def test_changed_names_what_differs_from_today() -> None:
    assert changed(TODAY) == "today's stack"
    assert changed(Variant("granian-asgi", "fastapi", "pydantic", "aiohttp")) == (
        "server granian-asgi, client aiohttp"
    )


def test_slope_cancels_what_every_phase_costs() -> None:
    fixed, per_unit = 0.2, 30e-6
    small = Phase(1_000, fixed + 1_000 * per_unit, 1.0)
    large = Phase(5_000, fixed + 5_000 * per_unit, 4.0)
    assert slope(small, large) == pytest.approx(per_unit)
    with pytest.raises(ValueError, match="differ"):
        slope(small, small)


def test_percentiles_and_spreads() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51.0
    assert percentile(values, 0.99) == 100.0
    assert percentile([], 0.5) != percentile([], 0.5)  # NaN
    spread = Spread.of([3e-6, 1e-6, 2e-6])
    assert (spread.median, spread.low, spread.high, spread.n) == (2e-6, 1e-6, 3e-6, 3)
    assert us(spread) == "2.0 (1.0-3.0)"
    assert us(Spread.of([])) == "-"


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ("Invalid enum value 'robot' - at `$.messages[0].role`", "messages.0.role"),
        ("Expected `float` <= 2.0 - at `$.temperature`", "temperature"),
        ("Object missing required field `messages`", "messages"),
        ("Object missing required field `role` - at `$.messages[3]`", "messages.3.role"),
        ("Expected `object`, got `array`", None),
        ("Number out of range - at `$[...]`", None),
    ],
)
def test_msgspec_paths_become_the_params_pydantic_locations_gave(
    message: str, param: str | None
) -> None:
    assert param_of(message) == param


def test_nested_paths_keep_every_index() -> None:
    message = "Expected `str` - at `$.messages[0].tool_calls[1].function.name`"
    assert param_of(message) == "messages.0.tool_calls.1.function.name"


def test_both_checks_forward_the_same_body() -> None:
    for body in realistic().values():
        assert orjson.loads(msgspec_prepare(body).forward) == orjson.loads(
            pydantic_prepare(body).forward
        )
    streamed = orjson.loads(msgspec_prepare(request(stream=True, max_tokens=8)).forward)
    assert streamed["stream_options"] == {"include_usage": True}


def test_msgspec_refuses_what_openai_refuses_naming_the_param() -> None:
    for case, (body, param) in INVALID.items():
        with pytest.raises(InvalidRequest) as refused:
            msgspec_prepare(body)
        assert refused.value.status == 400, case
        assert refused.value.param == param, case


def test_too_big_finds_integers_past_64_bits_anywhere() -> None:
    assert not too_big({"a": [1, 2**63 - 1, -(2**63)], "b": True, "c": 1e300})
    assert too_big({"a": [{"b": [2**63]}]})
    assert too_big(-(2**63) - 1)


async def _chunks(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_sse_events_pass_whole_chunks_and_cut_the_rest() -> None:
    whole = b"data: {1}\n\ndata: {2}\n\n"
    got = [e async for e in sse_events(_chunks(whole, b"data: {3}\n", b"\ndata: {4", b"}\n\n"), ())]
    assert got == [whole, b"data: {3}\n\n", b"data: {4}\n\n"]


async def test_sse_events_translate_library_errors() -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"data: {1}\n\n"
        raise ConnectionResetError("gone")

    events = sse_events(broken(), (ConnectionResetError,))
    assert await anext(events) == b"data: {1}\n\n"
    with pytest.raises(UpstreamError):
        await anext(events)


def test_the_tap_counts_content_and_drops_the_usage_the_client_did_not_ask_for() -> None:
    meter = Meter(strip=True)
    assert meter(engine.ROLE) == engine.ROLE
    assert meter(engine.TOKEN) == engine.TOKEN
    assert meter(engine.usage_event(2) + engine.DONE) == engine.DONE
    assert meter.usage is not None
    assert meter.usage.completion_tokens == 2
    assert (meter.content_events, meter.completed, meter.failed) == (2, True, False)
    kept = Meter(strip=False)
    assert kept(engine.usage_event(2)) == engine.usage_event(2)


def test_py_spy_samples_go_to_the_innermost_stage() -> None:
    lines = [
        "process 1:x;Runner.run (asyncio/runners.py) 5",
        "process 1:x;Runner.run (a);RelayResponse._send (gateway/upstream/relay.py);"
        "Meter.__call__ (loadtest/hotpath/relaying.py) 2",
        "process 1:x;Runner.run (a);RelayResponse._send (gateway/upstream/relay.py);"
        "RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py) 3",
        "garbage",
    ]
    stages = parse_raw(lines)
    assert stages["event loop in C (polling, socket reads/writes)"] == 5
    assert stages["tap (metering bookkeeping)"] == 2
    assert stages["write to client (ASGI send / RSGI send_bytes)"] == 3
    assert stage_of(["f (somewhere/else.py)"]) == "other: f"


class _Parsed:
    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.body = b""

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body += body


def test_the_clients_request_is_a_whole_http_request_with_the_sdks_headers() -> None:
    body = request(stream=True, max_tokens=4)
    parsed = _Parsed()
    httptools.HttpRequestParser(parsed).feed_data(request_bytes(8080, body))
    assert parsed.body == body
    assert parsed.headers[b"content-length"] == str(len(body)).encode()
    assert parsed.headers[b"x-stainless-lang"] == b"python"


def test_the_engines_stream_is_chunked_openai_sse() -> None:
    parsed = _Parsed()
    parser = httptools.HttpResponseParser(parsed)
    parser.feed_data(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        + engine.chunk(engine.ROLE)
        + engine.chunk(engine.DONE)
        + b"0\r\n\r\n"
    )
    assert parsed.body == engine.ROLE + engine.DONE
    document = orjson.loads(engine.completion(3))
    assert document["usage"]["completion_tokens"] == 3
