"""Admission: caps, ranked order, the priority queue, deadlines, cancellation.

Waiting tests use long deadlines that are never reached (a freed slot ends the wait) or
short ones (50 ms) where the deadline is the point; nothing asserts how long anything took.
"""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from gateway.routing.admission import Admission, Overloaded, Slot
from gateway.routing.view import Priority
from gateway.topology import Engine, Pool

POOL = Pool("de-test", "DE", "de-test-1", "l4", frozenset({"m"}))
A = Engine("http://adm-a.test:8000", POOL)
B = Engine("http://adm-b.test:8000", POOL)
C = Engine("http://adm-c.test:8000", POOL)
INTERACTIVE, BATCH = Priority.INTERACTIVE, Priority.BATCH
LONG = 30.0  # seconds; never reached: a release ends these waits
SHORT = 0.05


def later(admission: Admission, seconds: float = LONG) -> float:
    return admission.now() + seconds


async def queued(admission: Admission, count: int) -> None:
    """Let the waiting tasks run until ``count`` of them are in the queue."""
    for _ in range(100):
        if admission.queued() == count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"expected {count} waiting, got {admission.queued()}")


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_caps_are_honoured() -> None:
    admission = Admission({A.url: 2})
    first = await admission.acquire([A], INTERACTIVE, later(admission))
    second = await admission.acquire([A], INTERACTIVE, later(admission))
    assert admission.in_use(A.url) == 2
    with pytest.raises(Overloaded):
        await admission.acquire([A], INTERACTIVE, later(admission, SHORT))
    first.release()
    second.release()
    assert admission.in_use(A.url) == 0


async def test_first_engine_in_ranked_order_with_room() -> None:
    admission = Admission({A.url: 1, B.url: 1, C.url: None})
    assert (await admission.acquire([A, B, C], INTERACTIVE, later(admission))).engine is A
    assert (await admission.acquire([A, B, C], INTERACTIVE, later(admission))).engine is B
    assert (await admission.acquire([B, A, C], INTERACTIVE, later(admission))).engine is C
    assert (await admission.acquire([C, A], INTERACTIVE, later(admission))).engine is C
    assert admission.in_use(C.url) == 2


async def test_engines_without_a_cap_take_the_default() -> None:
    admission = Admission({}, default_cap=1)
    await admission.acquire([A], INTERACTIVE, later(admission))
    assert (await admission.acquire([A, B], INTERACTIVE, later(admission))).engine is B


async def test_interactive_is_served_before_batch_that_waited_longer() -> None:
    admission = Admission({A.url: 1})
    held = await admission.acquire([A], INTERACTIVE, later(admission))
    batch = asyncio.create_task(admission.acquire([A], BATCH, later(admission)))
    await queued(admission, 1)
    interactive = asyncio.create_task(admission.acquire([A], INTERACTIVE, later(admission)))
    await queued(admission, 2)

    held.release()
    slot = await interactive
    assert slot.engine is A
    assert not batch.done()
    assert admission.queued(BATCH) == 1

    slot.release()
    assert (await batch).engine is A
    assert admission.in_use(A.url) == 1


async def test_fifo_within_a_priority() -> None:
    admission = Admission({A.url: 1})
    held = await admission.acquire([A], BATCH, later(admission))
    served: list[int] = []

    async def take(n: int) -> None:
        slot = await admission.acquire([A], BATCH, later(admission))
        served.append(n)
        slot.release()

    tasks = []
    for n in range(3):
        tasks.append(asyncio.create_task(take(n)))
        await queued(admission, n + 1)
    held.release()
    await asyncio.gather(*tasks)
    assert served == [0, 1, 2]
    assert admission.in_use(A.url) == 0


async def test_a_freed_slot_goes_only_to_a_waiter_that_ranked_its_engine() -> None:
    admission = Admission({A.url: 1, B.url: 1})
    on_a = await admission.acquire([A], INTERACTIVE, later(admission))
    on_b = await admission.acquire([B], INTERACTIVE, later(admission))
    wants_b = asyncio.create_task(admission.acquire([B], INTERACTIVE, later(admission)))
    await queued(admission, 1)
    wants_either = asyncio.create_task(admission.acquire([B, A], BATCH, later(admission)))
    await queued(admission, 2)

    on_a.release()  # only the batch waiter ranked A, despite the interactive one ahead
    assert (await wants_either).engine is A
    assert not wants_b.done()
    on_b.release()
    assert (await wants_b).engine is B


async def test_deadline_raises_overloaded_with_retry_after() -> None:
    admission = Admission({A.url: 1})
    held = await admission.acquire([A], INTERACTIVE, later(admission))
    rejected_before = sample(
        "sovereign_admission_rejected_total", priority="batch", reason="deadline"
    )
    with pytest.raises(Overloaded) as caught:
        await admission.acquire([A], BATCH, later(admission, SHORT))
    error = caught.value
    assert error.reason == "deadline"
    assert error.status == 429
    assert error.retry_after_s >= 1.0
    assert int(error.headers["retry-after"]) >= 1
    assert admission.queued() == 0
    assert sample("sovereign_admission_rejected_total", priority="batch", reason="deadline") == (
        rejected_before + 1
    )
    held.release()
    assert admission.in_use(A.url) == 0


async def test_a_deadline_already_passed_is_refused_without_waiting() -> None:
    now = 500.0
    admission = Admission({A.url: 1}, clock=lambda: now)
    held = await admission.acquire([A], INTERACTIVE, now + 1)  # room: no deadline involved
    with pytest.raises(Overloaded) as caught:
        await admission.acquire([A], INTERACTIVE, now)
    assert caught.value.reason == "deadline"
    assert admission.queued() == 0
    held.release()


async def test_an_infinite_deadline_is_refused() -> None:
    admission = Admission({A.url: 0})
    with pytest.raises(ValueError, match="finite"):
        await admission.acquire([A], INTERACTIVE, float("inf"))


async def test_cancelling_a_waiter_leaves_the_queue_and_leaks_no_slot() -> None:
    admission = Admission({A.url: 1})
    held = await admission.acquire([A], INTERACTIVE, later(admission))
    waiter = asyncio.create_task(admission.acquire([A], INTERACTIVE, later(admission)))
    await queued(admission, 1)

    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert admission.queued() == 0
    held.release()
    assert admission.in_use(A.url) == 0
    again = await admission.acquire([A], INTERACTIVE, later(admission))
    assert again.engine is A


async def test_a_waiter_cancelled_after_winning_a_slot_passes_it_on() -> None:
    admission = Admission({A.url: 1})
    held = await admission.acquire([A], INTERACTIVE, later(admission))
    first = asyncio.create_task(admission.acquire([A], INTERACTIVE, later(admission)))
    await queued(admission, 1)
    second = asyncio.create_task(admission.acquire([A], INTERACTIVE, later(admission)))
    await queued(admission, 2)

    held.release()  # hands the slot to `first`, which has not run yet ...
    first.cancel()  # ... and is cancelled before it could
    with pytest.raises(asyncio.CancelledError):
        await first
    slot = await second
    assert admission.in_use(A.url) == 1
    slot.release()
    assert admission.in_use(A.url) == 0


async def test_release_is_idempotent() -> None:
    admission = Admission({A.url: 1})
    slot = await admission.acquire([A], INTERACTIVE, later(admission))
    waiter = asyncio.create_task(admission.acquire([A], INTERACTIVE, later(admission)))
    await queued(admission, 1)
    other = asyncio.create_task(admission.acquire([A], INTERACTIVE, later(admission)))
    await queued(admission, 2)

    slot.release()
    slot.release()  # must not hand a second slot to `other`
    handed = await waiter
    assert admission.queued() == 1
    assert admission.in_use(A.url) == 1
    other.cancel()
    await asyncio.gather(other, return_exceptions=True)
    handed.release()
    handed.release()
    assert admission.in_use(A.url) == 0


async def test_slot_as_async_context_manager() -> None:
    admission = Admission({A.url: 1})
    async with await admission.acquire([A], INTERACTIVE, later(admission)) as slot:
        assert isinstance(slot, Slot)
        assert admission.in_use(A.url) == 1
    assert admission.in_use(A.url) == 0


async def test_a_full_queue_refuses_at_once() -> None:
    admission = Admission({A.url: 1}, max_queue=1)
    held = await admission.acquire([A], INTERACTIVE, later(admission))
    waiter = asyncio.create_task(admission.acquire([A], BATCH, later(admission)))
    await queued(admission, 1)
    assert sample("sovereign_admission_queue", priority="batch") == 1

    with pytest.raises(Overloaded) as caught:
        await admission.acquire([A], INTERACTIVE, later(admission))
    assert caught.value.reason == "queue_full"
    assert caught.value.status == 503
    assert admission.queued() == 1

    held.release()
    (await waiter).release()
    assert sample("sovereign_admission_queue", priority="batch") == 0
    assert admission.in_use(A.url) == 0


async def test_zero_queue_means_no_waiting() -> None:
    admission = Admission({A.url: 0}, max_queue=0)
    with pytest.raises(Overloaded) as caught:
        await admission.acquire([A], INTERACTIVE, later(admission))
    assert caught.value.reason == "queue_full"


async def test_retry_after_counts_the_queue_ahead_at_the_recent_release_pace() -> None:
    clock = [0.0]
    admission = Admission({A.url: 1}, max_queue=2, clock=lambda: clock[0])
    for _ in range(3):  # a slot frees every 2 s
        (await admission.acquire([A], INTERACTIVE, clock[0] + LONG)).release()
        clock[0] += 2.0
    held = await admission.acquire([A], INTERACTIVE, clock[0] + LONG)
    waiters = []
    for n in range(2):
        waiters.append(asyncio.create_task(admission.acquire([A], BATCH, clock[0] + LONG)))
        await queued(admission, n + 1)
    with pytest.raises(Overloaded) as caught:
        await admission.acquire([A], BATCH, clock[0] + LONG)
    assert caught.value.retry_after_s == pytest.approx(6.0)  # (2 ahead + itself) * 2 s
    for task in waiters:
        task.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    held.release()
    assert admission.in_use(A.url) == 0


def test_negative_caps_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Admission({A.url: -1})
