"""One circuit breaker per engine: stop sending to an engine that keeps failing, then let a
single probe find out when it is back.

::

    CLOSED --(failure_threshold consecutive failures, or trip())--> OPEN
    (trip(): the engine refused a connection, seen by a request or the monitor's scrape)
    OPEN --(open time elapsed; read lazily by state/allow)--> HALF_OPEN
    HALF_OPEN --(probe succeeds)--> CLOSED      open time back to open_seconds
    HALF_OPEN --(probe fails)--> OPEN           open time doubled, up to max_open_seconds

What counts as a failure is the caller's call; the forwarder records connection errors,
timeouts and 5xx answers, never a 4xx (the request's fault) or a client's disconnect.

Only *consecutive* failures open the circuit. A rolling failure-rate window would also catch
an engine that fails one request in three, but it needs a minimum volume to mean anything and
a flaky engine is the load strategy's and the retry budget's business; the breaker is for
engines that are down. Any success in CLOSED resets the count.

The open time doubles after each failed probe (5 s, 10 s, 20 s, ... up to the maximum), so an
engine that stays dead costs one probe per interval, not one every few seconds forever. No
jitter: each gateway replica opens its circuits at its own moment, which already spreads the
probes across replicas.

A probe whose outcome never arrives (the client went away before the send) would hold the
circuit half-open forever; after ``probe_timeout_s`` it is presumed lost and another probe is
allowed. Single-threaded by design: everything runs on the event loop, no locks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from prometheus_client import Counter, Gauge

from gateway.topology import Engine

CIRCUIT_STATE = Gauge(
    "sovereign_circuit_state",
    "Circuit breaker state per engine: 0 closed, 1 half-open, 2 open.",
    ["pool", "engine"],
)
CIRCUIT_TRANSITIONS = Counter(
    "sovereign_circuit_transitions_total",
    "Circuit breaker state changes per engine, by the state entered.",
    ["pool", "engine", "to"],
)


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


GAUGE_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 3,
        open_seconds: float = 5.0,
        max_open_seconds: float = 60.0,
        probe_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Callable[[BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if not 0 < open_seconds <= max_open_seconds:
            raise ValueError("open_seconds must be > 0 and at most max_open_seconds")
        self._threshold = failure_threshold
        self._base_open = open_seconds
        self._max_open = max_open_seconds
        self._probe_timeout = probe_timeout_s
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._open_for = open_seconds  # the next (or current) open interval
        self._open_until = 0.0
        self._probe_since: float | None = None  # a probe is in flight since then
        # Opened by trip(): the engine refused connections, so an answer means it is back.
        self._tripped = False
        self.changed_at: float | None = None  # wall-clock time of the last state change

    @property
    def state(self) -> BreakerState:
        """The current state; an OPEN circuit whose time is up reads as HALF_OPEN, so a
        router that ranks open engines last still lets the probe through."""
        self._advance(self._clock())
        return self._state

    @property
    def open_for(self) -> float:
        """Seconds the circuit stays open the next time it opens (or now, if open)."""
        return self._open_for

    def would_allow(self) -> bool:
        """Whether ``allow()`` would say yes now, without taking the probe."""
        now = self._clock()
        self._advance(now)
        if self._state is BreakerState.CLOSED:
            return True
        return self._state is BreakerState.HALF_OPEN and not self._probe_busy(now)

    def allow(self) -> bool:
        """May a request go to this engine now? In HALF_OPEN a yes is the one probe: the
        caller must then record its outcome (or ``abandon()`` it)."""
        now = self._clock()
        self._advance(now)
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN or self._probe_busy(now):
            return False
        self._probe_since = now
        return True

    def abandon(self) -> None:
        """The probe was allowed but never sent (cancelled): let the next request probe."""
        self._probe_since = None

    def record_success(self) -> None:
        # In OPEN a success is a straggler sent before the circuit opened: the probe decides.
        if self._state is BreakerState.OPEN:
            return
        self._failures = 0
        if self._state is BreakerState.HALF_OPEN:
            self._open_for = self._base_open
            self._probe_since = None
            self._enter(BreakerState.CLOSED)

    def record_failure(self) -> None:
        if self._state is BreakerState.OPEN:
            return  # stragglers do not extend the open time
        if self._state is BreakerState.HALF_OPEN:
            self._open_for = min(self._open_for * 2, self._max_open)
            self._open(self._clock())
            return
        self._failures += 1
        if self._failures >= self._threshold:
            self._open(self._clock())

    def trip(self) -> None:
        """Open at once (e.g. the monitor saw /health refuse connections): quicker than
        waiting for ``failure_threshold`` requests to fail against the engine."""
        if self._state is not BreakerState.OPEN:
            self._open(self._clock())
            self._tripped = True

    def recovered(self) -> None:
        """The engine answers (the monitor's scrape succeeded). A circuit that a refused
        connection opened goes HALF_OPEN now, so one probe request confirms the engine is
        back instead of waiting out the open time. A circuit that failed requests opened
        waits: an engine whose /health answers while its requests fail must not be probed
        every scrape."""
        if self._state is BreakerState.OPEN and self._tripped:
            self._probe_since = None
            self._enter(BreakerState.HALF_OPEN)

    def _probe_busy(self, now: float) -> bool:
        return self._probe_since is not None and now - self._probe_since < self._probe_timeout

    def _advance(self, now: float) -> None:
        if self._state is BreakerState.OPEN and now >= self._open_until:
            self._probe_since = None
            self._enter(BreakerState.HALF_OPEN)

    def _open(self, now: float) -> None:
        self._tripped = False
        self._failures = 0
        self._probe_since = None
        self._open_until = now + self._open_for
        self._enter(BreakerState.OPEN)

    def _enter(self, state: BreakerState) -> None:
        self._state = state
        self.changed_at = time.time()
        if self._on_transition is not None:
            self._on_transition(state)


class Breakers:
    """The replica's breakers, one per engine URL, created on first use; exports metrics."""

    def __init__(
        self,
        *,
        failure_threshold: int = 3,
        open_seconds: float = 5.0,
        max_open_seconds: float = 60.0,
        probe_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = (failure_threshold, open_seconds, max_open_seconds, probe_timeout_s)
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def for_engine(self, engine: Engine) -> CircuitBreaker:
        breaker = self._breakers.get(engine.url)
        if breaker is None:
            breaker = self._breakers[engine.url] = self._create(engine)
        return breaker

    def states(self) -> dict[str, BreakerState]:
        return {url: breaker.state for url, breaker in self._breakers.items()}

    def _create(self, engine: Engine) -> CircuitBreaker:
        threshold, open_s, max_open_s, probe_s = self._settings
        labels = (engine.pool.name, engine.url)
        CIRCUIT_STATE.labels(*labels).set(GAUGE_VALUE[BreakerState.CLOSED])

        def export(state: BreakerState) -> None:
            CIRCUIT_STATE.labels(*labels).set(GAUGE_VALUE[state])
            CIRCUIT_TRANSITIONS.labels(*labels, state.value).inc()

        return CircuitBreaker(
            failure_threshold=threshold,
            open_seconds=open_s,
            max_open_seconds=max_open_s,
            probe_timeout_s=probe_s,
            clock=self._clock,
            on_transition=export,
        )
