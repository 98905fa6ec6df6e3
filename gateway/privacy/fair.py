"""Analysis threads shared fairly between tenants, so that one cannot starve the others.

A first-come-first-served pool lets one tenant deny the analysis to all: four 3 MB prompts
fill its threads and every other tenant's one-line request waits behind them until its
deadline passes (503 ``policy_unavailable``). Here each tenant has its own queue and the
threads take work in small **units** (a few thousand characters: ``analysis.py`` cuts them),
so a newcomer waits at most for the units already running, never for another's backlog.

Which tenant goes next: start-time fair queueing by character cost (the one-unit-at-a-time
form of deficit round robin). Each tenant has a virtual clock ``tag``, advanced by the cost
of every unit it starts; the backlogged tenant with the smallest tag goes next. A tenant that
was idle starts at the tag of the unit started last (``_vtime``): it cannot bank credit while
away, and it goes ahead of anyone who has been served since. Tenants with equal work
alternate; one sending short texts gets as many characters analysed as one sending long ones.
Within a tenant, its request with the least work left goes first (a chat turn passes the
tenant's own batch job); a request cut into many units keeps its place until it is done.

One tenant may hold at most ``per_tenant`` threads (default: all but one). The analysis is
pure Python holding the GIL, so a second thread for the same tenant adds no throughput; the
thread kept back lets another tenant's first unit start at once instead of after a unit.

Deadlines stay per request (the caller's ``asyncio.timeout``): a request that times out or
whose client is gone is cancelled, and its queued units are dropped at once, so a flood that
missed its deadlines stops costing CPU after the units already running. A single request of
one unit costs one thread hop, as with a pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar

R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Unit(Generic[R]):
    """A bounded piece of work; ``cost`` in characters (the analysis is linear in them)."""

    cost: int
    run: Callable[[], R]


class Scheduler(Protocol):
    async def run(self, tenant: str, units: Sequence[Unit[R]], finish: Callable[[list[R]], T]) -> T:
        """Runs ``units`` off the event loop, then ``finish`` on their results (in order),
        also off the loop. Cancelling the caller cancels what has not started."""
        ...

    def close(self) -> None: ...


class _State(Enum):
    QUEUED = "queued"  # waiting or running
    DONE = "done"  # settled (result or failure)
    CANCELLED = "cancelled"  # its caller went away


@dataclass(eq=False, slots=True)
class _Job:
    tenant: _Tenant
    units: Sequence[Unit[Any]]
    finish: Callable[[list[Any]], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    seq: int
    remaining: int  # cost of the units not started yet
    unfinished: int  # units not finished yet (queued or running)
    results: list[Any]
    next: int = 0  # the next unit to start
    state: _State = _State.QUEUED


@dataclass(eq=False, slots=True)
class _Tenant:
    name: str
    tag: int  # virtual start time of its next unit
    jobs: list[tuple[int, int, _Job]] = field(default_factory=list)  # heap: least work first
    running: int = 0


class FairScheduler:
    """Per-tenant queues served by ``threads`` workers; see the module docstring."""

    def __init__(
        self, threads: int, *, per_tenant: int | None = None, name: str = "pii-analysis"
    ) -> None:
        if threads < 1:
            raise ValueError("at least one thread")
        self.per_tenant = per_tenant if per_tenant is not None else max(1, threads - 1)
        self._cond = threading.Condition()
        self._tenants: dict[str, _Tenant] = {}  # only tenants with work queued or running
        self._vtime = 0
        self._seq = itertools.count()
        self._closed = False
        self._workers = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(threads)
        ]
        for worker in self._workers:
            worker.start()

    async def run(self, tenant: str, units: Sequence[Unit[R]], finish: Callable[[list[R]], T]) -> T:
        if not units:
            return finish([])
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the analysis has been shut down")
            state = self._tenants.get(tenant)
            if state is None:
                state = self._tenants[tenant] = _Tenant(tenant, self._vtime)
            elif not state.jobs:  # back from idle: no credit saved up while away
                state.tag = max(state.tag, self._vtime)
            cost = sum(unit.cost for unit in units)
            job = _Job(state, units, finish, future, loop, next(self._seq), cost, len(units),
                       [None] * len(units))  # fmt: skip
            heapq.heappush(state.jobs, (cost, job.seq, job))
            self._cond.notify(len(units))
        try:
            return await future
        finally:
            if job.state is _State.QUEUED:  # cancelled: a deadline, or the client is gone
                self._cancel(job)

    def queued(self, tenant: str) -> int:
        """Units of ``tenant`` waiting for a thread (for tests and metrics)."""
        with self._cond:
            state = self._tenants.get(tenant)
            if state is None:
                return 0
            return sum(len(job.units) - job.next for _, _, job in state.jobs)

    def close(self) -> None:
        """Stops the workers after their current unit; queued requests fail at once."""
        with self._cond:
            self._closed = True
            jobs = [job for t in self._tenants.values() for _, _, job in t.jobs]
            for job in jobs:
                job.state = _State.DONE
            self._tenants.clear()
            self._cond.notify_all()
        for job in jobs:
            _settle(job, None, RuntimeError("the analysis has been shut down"))

    def _pick(self) -> tuple[_Job, int, Unit[Any]] | None:
        """The next unit: the smallest tag among tenants with work and a thread to spare."""
        best: _Tenant | None = None
        for state in self._tenants.values():
            spare = state.jobs and state.running < self.per_tenant
            if spare and (best is None or state.tag < best.tag):
                best = state
        if best is None:
            return None
        _, seq, job = best.jobs[0]
        index = job.next
        unit = job.units[index]
        job.next += 1
        job.remaining -= unit.cost
        if job.next == len(job.units):
            heapq.heappop(best.jobs)
        else:  # less work left: still the heap's least, so the heap stays valid
            best.jobs[0] = (job.remaining, seq, job)
        self._vtime = max(self._vtime, best.tag)
        best.tag += unit.cost
        best.running += 1
        return job, index, unit

    def _work(self) -> None:
        while True:
            with self._cond:
                picked = None if self._closed else self._pick()
                while picked is None:
                    if self._closed:
                        return
                    self._cond.wait()
                    picked = None if self._closed else self._pick()
            job, index, unit = picked
            try:
                result = unit.run()
            except Exception as exc:
                self._done(job, index, None, exc)
            else:
                self._done(job, index, result, None)

    def _done(self, job: _Job, index: int, result: Any, error: Exception | None) -> None:
        with self._cond:
            job.tenant.running -= 1
            settled = self._settled(job, index, result, error)
            self._forget_if_idle(job.tenant)
        if not settled:
            return
        if error is None:
            try:
                result = job.finish(job.results)
            except Exception as exc:
                error = exc
        _settle(job, result, error)

    def _settled(self, job: _Job, index: int, result: Any, error: Exception | None) -> bool:
        """Records a finished unit; True when the request is now done (under the lock)."""
        if job.state is not _State.QUEUED:
            return False  # cancelled or failed meanwhile: the result has no one to go to
        if error is None:
            job.results[index] = result
            job.unfinished -= 1
            if job.unfinished:
                return False
        else:
            self._unqueue(job)  # one unit failed: the request failed, drop the rest
        job.state = _State.DONE
        return True

    def _cancel(self, job: _Job) -> None:
        with self._cond:
            if job.state is _State.QUEUED:
                job.state = _State.CANCELLED
                self._unqueue(job)
                self._forget_if_idle(job.tenant)

    def _unqueue(self, job: _Job) -> None:
        state = job.tenant
        if job.next < len(job.units):
            state.jobs = [entry for entry in state.jobs if entry[2] is not job]
            heapq.heapify(state.jobs)

    def _forget_if_idle(self, state: _Tenant) -> None:
        if not state.jobs and not state.running and self._tenants.get(state.name) is state:
            del self._tenants[state.name]


def _settle(job: _Job, result: Any, error: BaseException | None) -> None:
    def settle() -> None:
        if job.future.done():
            return
        if error is None:
            job.future.set_result(result)
        else:
            job.future.set_exception(error)

    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        job.loop.call_soon_threadsafe(settle)


class FifoScheduler:
    """The former behaviour, first come first served: a request's units in one hop to a plain
    thread pool. Kept only for ``loadtest.analysis_flood`` to measure the difference."""

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="pii-analysis")

    async def run(self, tenant: str, units: Sequence[Unit[R]], finish: Callable[[list[R]], T]) -> T:
        def work() -> T:
            return finish([unit.run() for unit in units])

        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
