"""The fair scheduler with units that block on events: the order in which units run is
observed, never timed (a timeout only guards against a hung test)."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from gateway.privacy.fair import FairScheduler, FifoScheduler, Unit

WAIT_S = 10.0


class Log:
    """What ran, in order, and gates that hold units until the test opens them."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.started: dict[str, threading.Event] = {}
        self.gates: dict[str, threading.Event] = {}

    def unit(self, name: str, cost: int = 1_000, *, gated: bool = False) -> Unit[str]:
        started = self.started.setdefault(name, threading.Event())
        gate = self.gates.setdefault(name, threading.Event())
        if not gated:
            gate.set()

        def run() -> str:
            self.ran.append(name)
            started.set()
            assert gate.wait(WAIT_S), f"{name} was never let go"
            return name

        return Unit(cost, run)

    async def wait_started(self, name: str) -> None:
        assert await asyncio.to_thread(self.started[name].wait, WAIT_S)

    def open(self, name: str) -> None:
        self.gates[name].set()


def _joined(results: list[str]) -> str:
    return ",".join(results)


@pytest.fixture
def log() -> Iterator[Log]:
    made = Log()
    yield made
    for gate in made.gates.values():  # no worker left waiting after the test
        gate.set()


@pytest.fixture
async def one_thread() -> AsyncIterator[FairScheduler]:
    scheduler = FairScheduler(1)
    yield scheduler
    scheduler.close()


async def _blocked(scheduler: FairScheduler, log: Log) -> asyncio.Task[str]:
    """Occupies the scheduler's thread with a gated unit of tenant "gate"."""
    task = asyncio.create_task(scheduler.run("gate", [log.unit("gate", gated=True)], _joined))
    await log.wait_started("gate")
    return task


def _submit(scheduler: FairScheduler, tenant: str, units: list[Unit[str]]) -> asyncio.Task[str]:
    return asyncio.create_task(scheduler.run(tenant, units, _joined))


async def test_tenants_with_equal_work_are_served_in_turn(
    one_thread: FairScheduler, log: Log
) -> None:
    gate = await _blocked(one_thread, log)
    a = _submit(one_thread, "a", [log.unit(f"a{i}") for i in range(4)])
    b = _submit(one_thread, "b", [log.unit(f"b{i}") for i in range(4)])
    await asyncio.sleep(0)  # both requests queue their units
    assert (one_thread.queued("a"), one_thread.queued("b")) == (4, 4)
    log.open("gate")
    assert (await a, await b, await gate) == ("a0,a1,a2,a3", "b0,b1,b2,b3", "gate")
    assert log.ran == ["gate", "a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3"]


async def test_turns_are_weighed_by_characters_not_by_units(
    one_thread: FairScheduler, log: Log
) -> None:
    gate = await _blocked(one_thread, log)
    long = _submit(one_thread, "long", [log.unit(f"L{i}", 4_000) for i in range(2)])
    short = _submit(one_thread, "short", [log.unit(f"s{i}", 1_000) for i in range(8)])
    await asyncio.sleep(0)
    log.open("gate")
    await asyncio.gather(long, short, gate)
    assert log.ran[1:] == ["L0", "s0", "s1", "s2", "s3", "L1", "s4", "s5", "s6", "s7"]


async def test_a_backlog_delays_another_tenant_only_by_the_unit_in_progress(
    one_thread: FairScheduler, log: Log
) -> None:
    flood = _submit(one_thread, "a", [log.unit(f"a{i}", 4_000, gated=True) for i in range(50)])
    await log.wait_started("a0")
    single = _submit(one_thread, "b", [log.unit("b0", 10)])
    await asyncio.sleep(0)
    assert one_thread.queued("a") == 49
    log.open("a0")  # only the unit that was running when b arrived
    assert await asyncio.wait_for(single, WAIT_S) == "b0"
    assert log.ran[:2] == ["a0", "b0"]
    flood.cancel()


async def test_with_threads_to_spare_another_tenant_starts_at_once(log: Log) -> None:
    """One tenant holds at most all threads but one: the last starts a newcomer's unit
    while every unit of the flood is still blocked."""
    scheduler = FairScheduler(2)
    assert scheduler.per_tenant == 1
    try:
        floods = [
            _submit(scheduler, "a", [log.unit(f"a{n}.{i}", gated=True) for i in range(3)])
            for n in range(4)
        ]
        await log.wait_started("a0.0")
        single = _submit(scheduler, "b", [log.unit("b0")])
        assert await asyncio.wait_for(single, WAIT_S) == "b0"
        assert log.ran == ["a0.0", "b0"]  # the flood still holds its one thread
        for task in floods:
            task.cancel()
    finally:
        scheduler.close()


async def test_a_cancelled_request_leaves_no_queued_work(
    one_thread: FairScheduler, log: Log
) -> None:
    gate = await _blocked(one_thread, log)
    gone = _submit(one_thread, "a", [log.unit(f"a{i}") for i in range(3)])
    await asyncio.sleep(0)
    assert one_thread.queued("a") == 3
    gone.cancel()  # a deadline passed, or the client went away
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert one_thread.queued("a") == 0
    log.open("gate")
    await gate
    after = _submit(one_thread, "b", [log.unit("b0")])
    assert await after == "b0"
    assert log.ran == ["gate", "b0"]  # none of the cancelled units ever ran


async def test_a_tenants_small_request_passes_its_own_large_one(
    one_thread: FairScheduler, log: Log
) -> None:
    gate = await _blocked(one_thread, log)
    large = _submit(one_thread, "a", [log.unit(f"big{i}") for i in range(3)])
    small = _submit(one_thread, "a", [log.unit("small")])
    await asyncio.sleep(0)
    log.open("gate")
    await asyncio.gather(large, small, gate)
    assert log.ran == ["gate", "small", "big0", "big1", "big2"]


async def test_a_failing_unit_fails_its_request_and_drops_the_rest(
    one_thread: FairScheduler, log: Log
) -> None:
    gate = await _blocked(one_thread, log)

    def boom() -> str:
        log.ran.append("boom")
        raise RuntimeError("analyzer crashed")

    failing = _submit(one_thread, "a", [Unit(1, boom), log.unit("after")])
    other = _submit(one_thread, "b", [log.unit("b0")])
    await asyncio.sleep(0)
    log.open("gate")
    with pytest.raises(RuntimeError, match="analyzer crashed"):
        await failing
    assert await other == "b0"
    await gate
    assert "after" not in log.ran
    assert one_thread.queued("a") == 0


async def test_finish_runs_off_the_loop_on_results_in_order(one_thread: FairScheduler) -> None:
    loop_thread = threading.get_ident()
    seen: list[Any] = []

    def finish(results: list[int]) -> int:
        seen.append(threading.get_ident())
        return sum(r * 10**i for i, r in enumerate(results))

    units = [Unit(1, functools.partial(int, n)) for n in (1, 2, 3)]
    assert await one_thread.run("a", units, finish) == 321
    assert seen[0] != loop_thread
    assert await one_thread.run("a", [], finish) == 0  # nothing to do: no hop at all


async def test_close_fails_what_is_queued_and_refuses_new_work(log: Log) -> None:
    scheduler = FairScheduler(1)
    gate = await _blocked(scheduler, log)
    queued = _submit(scheduler, "a", [log.unit("a0")])
    await asyncio.sleep(0)
    scheduler.close()
    with pytest.raises(RuntimeError, match="shut down"):
        await queued
    with pytest.raises(RuntimeError, match="shut down"):
        await scheduler.run("b", [log.unit("b0")], _joined)
    log.open("gate")
    assert await gate == "gate"  # the unit in progress finishes


@pytest.mark.parametrize("make", [lambda: FairScheduler(2), lambda: FifoScheduler(2)])
async def test_both_schedulers_run_units_and_finish(make: Callable[[], Any]) -> None:
    scheduler = make()
    try:
        units = [Unit(1, functools.partial(str, n)) for n in range(5)]
        assert await scheduler.run("a", units, _joined) == "0,1,2,3,4"
    finally:
        scheduler.close()
