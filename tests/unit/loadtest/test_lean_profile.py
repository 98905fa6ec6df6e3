"""The profile's attribution: each py-spy sample goes to the innermost frame of a known part."""

from __future__ import annotations

from loadtest.lean_profile import LOOP, bucket, drop_thread, report, tally

SERVE = "<module> (gateway/cli.py:1);Runner.run (asyncio/runners.py:118)"


def test_innermost_known_part_wins() -> None:
    stack = SERVE + (
        ";InferenceRoute.__call__ (gateway/pipeline/routes.py:55)"
        ";RelayResponse.__call__ (gateway/upstream/relay.py:75)"
        ";RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:500)"
    )
    assert bucket(stack) == "uvicorn (HTTP server, ASGI send)"


def test_gateway_sub_packages_and_policies() -> None:
    guard = SERVE + ";AnswerGuard.feed_parsed (gateway/privacy/stream_guard.py:141)"
    scan = SERVE + ";_scan (/work/main/policies/recognizers/special.py:269)"
    edge = SERVE + ";EdgeMiddleware.__call__ (gateway/edge.py:68)"
    assert bucket(guard) == bucket(scan) == "gateway: privacy (policy, answer guard, analysis)"
    assert bucket(edge) == "gateway: request path (pipeline, edge, auth)"


def test_the_runner_alone_is_the_loop_in_c() -> None:
    assert bucket(SERVE) == LOOP


def test_tally_drops_thread_names_and_counts() -> None:
    lines = [
        "thread (0x7f01);" + SERVE + ";ClientResponse.start (aiohttp/client_reqrep.py:900) 3",
        "process 12;" + SERVE + " 1",
        "not a sample",
    ]
    counts = tally(drop_thread(line) for line in lines)
    assert counts == {"aiohttp (engine client)": 3, LOOP: 1}
    table = report(counts, cpu=0.004, units=100, unit="request")
    assert table[0] == "CPU 0.00 s over 100 requests: 40.0 µs per request"
    assert "| aiohttp (engine client) | 75.0% | 30.0 |" in table
