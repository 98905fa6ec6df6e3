"""Admission: per-engine concurrency caps, and one priority queue with deadlines.

An engine past its ``max_num_seqs`` queues requests inside vLLM, where we can neither
prioritise nor bound them. So each engine gets a cap of concurrent requests from this
replica, and a request that finds every engine of its ranked list full waits here, where
INTERACTIVE goes before BATCH (strictly; FIFO within a priority) and nothing waits past its
deadline.

A freed slot goes straight to the best waiter whose ranked list contains that engine (not
back to a pool a newcomer could grab), so a free slot always means that no waiter wants it,
and a newcomer taking it jumps nobody.

``Overloaded`` is how a request is turned away; the gateway answers it as:

- ``deadline``: it queued until its deadline and no engine of its list freed up in time:
  **429** (rate_limit_error). The queue did its job; this request is the excess of a burst
  and should come back later, which the openai SDK does on 429, honouring Retry-After.
- ``queue_full``: ``max_queue`` requests are already waiting: **503**. The engines are so
  saturated that there is no room even to wait; that is a capacity alarm, not a burst.

Both carry ``retry_after_s``: the requests ahead of a retry times the recent mean interval
between freed slots, clamped to 1..60 s.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from prometheus_client import Counter, Gauge

from gateway.routing.view import Priority
from gateway.topology import Engine

ADMISSION_QUEUE = Gauge(
    "sovereign_admission_queue",
    "Requests waiting for an engine slot, by priority.",
    ["priority"],
)
ADMISSION_REJECTED = Counter(
    "sovereign_admission_rejected_total",
    "Requests turned away by admission, by priority and reason (deadline, queue_full).",
    ["priority", "reason"],
)

Reason = Literal["deadline", "queue_full"]

# Serving order: every INTERACTIVE waiter before any BATCH one.
_ORDER = (Priority.INTERACTIVE, Priority.BATCH)
_RETRY_AFTER_MIN_S = 1.0
_RETRY_AFTER_MAX_S = 60.0
_INTERVAL_WEIGHT = 0.2  # EWMA weight of the newest interval between freed slots


class Overloaded(Exception):
    """No engine slot for the request: right away (queue full) or by its deadline."""

    def __init__(self, reason: Reason, priority: Priority, retry_after_s: float) -> None:
        super().__init__(f"admission refused a {priority} request: {reason}")
        self.reason: Reason = reason
        self.priority = priority
        self.retry_after_s = retry_after_s

    @property
    def status(self) -> int:
        """The HTTP status the gateway answers with (see the module docstring)."""
        return 429 if self.reason == "deadline" else 503

    @property
    def headers(self) -> dict[str, str]:
        return {"retry-after": str(max(1, math.ceil(self.retry_after_s)))}


class Slot:
    """One request's place on an engine; ``release()`` it exactly when the request ends
    (idempotent), or use it as ``async with``."""

    __slots__ = ("_admission", "_released", "engine")

    def __init__(self, admission: Admission, engine: Engine) -> None:
        self.engine = engine
        self._admission = admission
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._admission._release(self.engine)

    async def __aenter__(self) -> Slot:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


@dataclass(eq=False, slots=True)
class _Waiter:
    engines: dict[str, Engine]  # by URL: the engines a freed slot may come from
    priority: Priority
    future: asyncio.Future[Slot]


class Admission:
    def __init__(
        self,
        caps: Mapping[str, int | None],
        *,
        default_cap: int | None = None,
        max_queue: int = 1024,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """``caps`` by engine URL (None: unlimited; 0: drained, takes nothing new); engines
        not named get ``default_cap``. ``clock`` is the one deadlines are given on; by
        default the running loop's ``time()``."""
        if any(cap is not None and cap < 0 for cap in [*caps.values(), default_cap]):
            raise ValueError("caps must not be negative")
        if max_queue < 0:
            raise ValueError("max_queue must not be negative")
        self._caps = dict(caps)
        self._default_cap = default_cap
        self._max_queue = max_queue
        self._clock = clock
        self._in_use: dict[str, int] = {}
        self._queues: dict[Priority, deque[_Waiter]] = {p: deque() for p in _ORDER}
        self._interval: float | None = None  # mean seconds between freed slots
        self._last_release: float | None = None

    def now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def in_use(self, url: str) -> int:
        return self._in_use.get(url, 0)

    def queued(self, priority: Priority | None = None) -> int:
        if priority is not None:
            return len(self._queues[priority])
        return sum(len(q) for q in self._queues.values())

    async def acquire(self, ranked: Sequence[Engine], priority: Priority, deadline: float) -> Slot:
        """A slot on the first engine of ``ranked`` with room now; otherwise wait in the
        queue for a slot on any of them until ``deadline`` (absolute, on this admission's
        clock), then raise ``Overloaded``."""
        if not ranked:
            raise ValueError("acquire needs at least one engine")
        if not math.isfinite(deadline):
            raise ValueError("a deadline must be finite: admission never waits unbounded")
        for engine in ranked:
            if self._has_room(engine.url):
                self._in_use[engine.url] = self.in_use(engine.url) + 1
                return Slot(self, engine)
        if self.queued() >= self._max_queue:
            raise self._reject(priority, "queue_full")
        now = self.now()
        if deadline <= now:
            raise self._reject(priority, "deadline")
        loop = asyncio.get_running_loop()
        waiter = _Waiter({e.url: e for e in ranked}, priority, loop.create_future())
        self._queues[priority].append(waiter)
        self._export(priority)
        timer = loop.call_later(deadline - now, self._expire, waiter)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            self._withdraw(waiter)
            raise
        finally:
            timer.cancel()

    def _has_room(self, url: str) -> bool:
        cap = self._caps.get(url, self._default_cap)
        return cap is None or self.in_use(url) < cap

    def _release(self, engine: Engine) -> None:
        self._note_release()
        waiter = self._next_waiter(engine.url)
        if waiter is None:
            self._in_use[engine.url] -= 1
        else:  # the slot changes hands; the engine's count stays
            waiter.future.set_result(Slot(self, waiter.engines[engine.url]))

    def _next_waiter(self, url: str) -> _Waiter | None:
        for priority in _ORDER:
            queue = self._queues[priority]
            for waiter in queue:
                # A done future is a waiter cancelled or expired but not yet withdrawn.
                if not waiter.future.done() and url in waiter.engines:
                    queue.remove(waiter)
                    self._export(priority)
                    return waiter
        return None

    def _expire(self, waiter: _Waiter) -> None:
        if waiter.future.done():
            return
        self._dequeue(waiter)
        waiter.future.set_exception(self._reject(waiter.priority, "deadline"))

    def _withdraw(self, waiter: _Waiter) -> None:
        """The waiting task was cancelled: leave the queue, or pass on a slot already won."""
        future = waiter.future
        if future.done() and not future.cancelled() and future.exception() is None:
            future.result().release()
        else:
            self._dequeue(waiter)

    def _dequeue(self, waiter: _Waiter) -> None:
        queue = self._queues[waiter.priority]
        if waiter in queue:
            queue.remove(waiter)
            self._export(waiter.priority)

    def _reject(self, priority: Priority, reason: Reason) -> Overloaded:
        ADMISSION_REJECTED.labels(priority.value, reason).inc()
        return Overloaded(reason, priority, self._retry_after(priority))

    def _retry_after(self, priority: Priority) -> float:
        """Seconds until a request of this priority, sent again, might get a slot: the
        waiters that would be served before it, times the mean interval between frees."""
        ahead = len(self._queues[Priority.INTERACTIVE])
        if priority is not Priority.INTERACTIVE:
            ahead = self.queued()
        per_slot = self._interval if self._interval is not None else _RETRY_AFTER_MIN_S
        return min(_RETRY_AFTER_MAX_S, max(_RETRY_AFTER_MIN_S, (ahead + 1) * per_slot))

    def _note_release(self) -> None:
        try:
            now = self.now()
        except RuntimeError:  # released outside the loop (shutdown): no sample, no harm
            return
        if self._last_release is not None:
            gap = now - self._last_release
            old = self._interval
            self._interval = gap if old is None else old + _INTERVAL_WEIGHT * (gap - old)
        self._last_release = now

    def _export(self, priority: Priority) -> None:
        ADMISSION_QUEUE.labels(priority.value).set(len(self._queues[priority]))
