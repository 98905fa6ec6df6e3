"""The loop-stall benchmark's pure parts: the probe's step timing and the attribution of
stalls to their sources. The benchmark itself (gateways under load) is not run here."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from loadtest import stall_probe
from loadtest.stall_report import OUTSIDE, Side, analyse, render, source_of

T0 = 1_800_000_000.0


def record(**parts: Any) -> dict[str, Any]:
    """A probe record (``StallProbe.result()``): lateness (due, late), holds (start, wall,
    cpu, task), gc (start, wall, cpu, generation, thread)."""
    return {"ticks": 1000, "lateness": [], "holds": [], "gc": [], **parts}


def test_periodic_jobs_are_named_by_their_task_and_requests_by_theirs() -> None:
    assert source_of("hub:Observability._drain") == "telemetry flush"
    assert source_of("monitor:EngineMonitor._scrape") == "monitor scrape"
    assert source_of("directory:Directory.watch") == "directory poll"
    assert source_of("httptools_impl:RequestResponseCycle.run_asgi") == (
        "task httptools_impl:RequestResponseCycle.run_asgi"
    )


def test_a_stall_goes_to_what_held_the_loop_most_and_gc_before_the_step_it_ran_in() -> None:
    found = analyse(
        record(
            lateness=[(T0 + 1.0, 0.004), (T0 + 2.0, 0.150), (T0 + 3.0, 0.002), (T0 + 4.0, 0.0005)],
            holds=[
                (T0 + 0.9995, 0.0045, 0.004, "hub:Observability._drain"),
                (T0 + 1.999, 0.152, 0.15, "httptools_impl:RequestResponseCycle.run_asgi"),
            ],
            gc=[(T0 + 2.0, 0.149, 0.149, 2, "loop")],
        ),
        [(T0, T0 + 10)],
    )
    assert sorted(found.stalls) == [
        (0.002, OUTSIDE),  # nothing timed overlaps it
        (0.004, "telemetry flush"),
        (0.150, "gc gen2"),
    ]  # the tick 0.5 ms late is no stall
    assert found.longest_hold("telemetry flush") == (0.0045, 0.004)
    assert found.longest_gc(2) == (0.149, 0.149)
    assert found.stalls_per_second() == pytest.approx(0.3)


def test_only_what_happened_under_load_counts() -> None:
    found = analyse(
        record(
            lateness=[(T0 + 1.0, 0.5), (T0 + 6.0, 0.003)],
            holds=[(T0 + 1.0, 0.5, 0.5, "x:start_up")],
            gc=[(T0 + 1.0, 0.13, 0.13, 2, "loop")],
        ),
        [(T0 + 5.0, T0 + 7.0), (T0 + 8.0, T0 + 9.0)],
    )
    assert found.seconds == pytest.approx(3.0)
    assert found.stalls == [(0.003, OUTSIDE)]
    assert not found.holds
    assert not found.gc


def test_the_report_has_a_row_per_side() -> None:
    side = Side("after, embedded", latency=[0.001] * 99 + [0.01], ttft=[0.002] * 100)
    side.windows = [(T0, T0 + 1)]
    side.findings = analyse(
        record(
            lateness=[(T0 + 0.5, 0.002)],
            holds=[(T0 + 0.5, 0.002, 0.001, "monitor:EngineMonitor.run")],
        ),
        side.windows,
    )
    text = "\n".join(render([side], "title"))
    assert "| after, embedded | 1.00 | 10.00 |" in text
    assert "monitor scrape 1x, max 2.00" in text
    assert "| 1.00 (2.00) |" in text


async def test_the_probe_times_every_step_of_every_task(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stall_probe, "MIN_HOLD_S", 0.0)  # keep every step, however short
    probe = stall_probe.StallProbe()
    loop = asyncio.get_running_loop()
    factory = loop.get_task_factory()
    probe.start(loop)
    try:

        async def job() -> int:
            for _ in range(3):
                await asyncio.sleep(0)
            return 7

        assert await asyncio.create_task(job()) == 7
    finally:
        probe.stop()
        loop.set_task_factory(factory)
    named = "test_stall_report:test_the_probe_times_every_step_of_every_task.<locals>.job"
    steps = [name for _, _, _, name in probe.holds if name == named]
    assert len(steps) == 4  # the first step and one after each of the three awaits
