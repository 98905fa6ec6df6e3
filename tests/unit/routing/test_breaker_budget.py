"""Circuit breakers and the retry budget, on a fake clock."""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY

from gateway.routing.breaker import Breakers, BreakerState, CircuitBreaker
from gateway.routing.budget import RetryBudget
from gateway.topology import Engine, Pool


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def breaker(clock: FakeClock, probe_timeout_s: float = 30.0) -> CircuitBreaker:
    return CircuitBreaker(
        failure_threshold=3,
        open_seconds=5.0,
        max_open_seconds=20.0,
        probe_timeout_s=probe_timeout_s,
        clock=clock,
    )


def state(b: CircuitBreaker) -> BreakerState:
    """Read afresh: each read may advance the state (a plain ``b.state`` would be narrowed
    by mypy across the calls that change it)."""
    return b.state


def open_it(b: CircuitBreaker) -> None:
    for _ in range(3):
        b.record_failure()


# --- breaker ---------------------------------------------------------------------------------


def test_opens_after_threshold_consecutive_failures(clock: FakeClock) -> None:
    b = breaker(clock)
    b.record_failure()
    b.record_failure()
    assert state(b) is BreakerState.CLOSED
    assert b.allow()
    b.record_failure()
    assert state(b) is BreakerState.OPEN
    assert not b.allow()


def test_a_success_resets_the_consecutive_count(clock: FakeClock) -> None:
    b = breaker(clock)
    b.record_failure()
    b.record_failure()
    b.record_success()
    b.record_failure()
    b.record_failure()
    assert state(b) is BreakerState.CLOSED


def test_stays_open_until_the_open_time_has_passed(clock: FakeClock) -> None:
    b = breaker(clock)
    open_it(b)
    clock.advance(4.9)
    assert not b.allow()
    assert state(b) is BreakerState.OPEN
    b.record_failure()  # a straggler: does not extend the open time
    clock.advance(0.1)
    assert state(b) is BreakerState.HALF_OPEN


def test_half_open_lets_exactly_one_probe_through(clock: FakeClock) -> None:
    b = breaker(clock)
    open_it(b)
    clock.advance(5.0)
    assert b.would_allow()
    assert b.allow()  # the probe
    assert state(b) is BreakerState.HALF_OPEN
    assert not b.would_allow()
    assert not b.allow()
    assert not b.allow()


def test_probe_success_closes_and_resets(clock: FakeClock) -> None:
    b = breaker(clock)
    open_it(b)
    clock.advance(5.0)
    assert b.allow()
    b.record_success()
    assert state(b) is BreakerState.CLOSED
    assert b.allow()
    assert b.allow()
    b.record_failure()
    b.record_failure()
    assert state(b) is BreakerState.CLOSED  # the count started afresh
    assert b.open_for == 5.0


def test_probe_failure_reopens_with_doubled_open_time_up_to_the_maximum(clock: FakeClock) -> None:
    b = breaker(clock)
    open_it(b)
    for expected in (10.0, 20.0, 20.0):
        clock.advance(b.open_for)
        assert b.allow()
        b.record_failure()
        assert state(b) is BreakerState.OPEN
        assert b.open_for == expected
        clock.advance(expected - 0.1)
        assert not b.allow()
        clock.advance(0.1)
    assert b.allow()
    b.record_success()
    assert state(b) is BreakerState.CLOSED
    assert b.open_for == 5.0  # closing resets the backoff


def test_a_lost_probe_is_replaced_after_the_probe_timeout(clock: FakeClock) -> None:
    b = breaker(clock, probe_timeout_s=30.0)
    open_it(b)
    clock.advance(5.0)
    assert b.allow()
    clock.advance(29.0)
    assert not b.allow()
    clock.advance(1.0)
    assert b.allow()  # the first probe never reported: presumed lost


def test_an_abandoned_probe_frees_the_probe_at_once(clock: FakeClock) -> None:
    b = breaker(clock)
    open_it(b)
    clock.advance(5.0)
    assert b.allow()
    b.abandon()
    assert b.allow()


def test_trip_opens_at_once(clock: FakeClock) -> None:
    b = breaker(clock)
    assert b.changed_at is None
    before = time.time()
    b.trip()
    assert state(b) is BreakerState.OPEN
    assert not b.allow()
    assert b.changed_at is not None
    assert before <= b.changed_at <= time.time()


def test_a_dead_engine_opens_after_three_fast_failures(clock: FakeClock) -> None:
    """The issue's target: connect errors fail fast, so three attempts open the circuit
    well within a second; later requests are refused without touching the engine."""
    b = breaker(clock)
    sent = 0
    for _ in range(10):
        if b.allow():
            sent += 1
            clock.advance(0.002)  # connection refused
            b.record_failure()
    assert sent == 3
    assert state(b) is BreakerState.OPEN


@pytest.mark.parametrize("bad", [{"failure_threshold": 0}, {"open_seconds": 0.0}])
def test_invalid_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        CircuitBreaker(**bad)  # type: ignore[arg-type]


# --- the registry and its metrics ------------------------------------------------------------

POOL = Pool("de-test", "DE", "de-test-1", "l4", frozenset({"m"}))


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_registry_keeps_one_breaker_per_engine_and_exports_state(clock: FakeClock) -> None:
    a = Engine("http://breaker-a.test:8000", POOL)
    b = Engine("http://breaker-b.test:8000", POOL)
    breakers = Breakers(failure_threshold=3, open_seconds=5.0, clock=clock)
    assert breakers.for_engine(a) is breakers.for_engine(Engine(a.url, POOL))
    breakers.for_engine(b)
    labels = {"pool": "de-test", "engine": a.url}
    opened_before = sample("sovereign_circuit_transitions_total", **labels, to="open")

    open_it(breakers.for_engine(a))

    assert breakers.states() == {a.url: BreakerState.OPEN, b.url: BreakerState.CLOSED}
    assert sample("sovereign_circuit_state", **labels) == 2
    assert sample("sovereign_circuit_transitions_total", **labels, to="open") == opened_before + 1
    clock.advance(5.0)
    assert breakers.states()[a.url] is BreakerState.HALF_OPEN
    assert sample("sovereign_circuit_state", **labels) == 1
    breakers.for_engine(a).record_success()
    assert sample("sovereign_circuit_state", **labels) == 0


# --- retry budget ----------------------------------------------------------------------------


def test_retries_stay_near_the_ratio_of_traffic(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=5.0, max_tokens=10.0, clock=clock)
    allowed = 0
    for _ in range(1000):  # every request fails and wants a retry; no time passes
        budget.deposit()
        allowed += budget.try_spend()
    # the initial burst of 10 plus 20 % of 1000 requests, never more
    assert 200 <= allowed <= 210


def test_the_floor_allows_retries_without_traffic(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=5.0, max_tokens=10.0, clock=clock)
    while budget.try_spend():
        pass
    assert not budget.try_spend()
    clock.advance(1.0)
    assert [budget.try_spend() for _ in range(6)] == [True] * 5 + [False]


def test_denied_when_exhausted_and_refilled_over_time(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=5.0, max_tokens=10.0, clock=clock)
    denied_before = sample("sovereign_retries_total", outcome="denied")
    allowed_before = sample("sovereign_retries_total", outcome="allowed")
    assert sum(budget.try_spend() for _ in range(15)) == 10
    assert sample("sovereign_retries_total", outcome="denied") == denied_before + 5
    assert sample("sovereign_retries_total", outcome="allowed") == allowed_before + 10
    clock.advance(0.1)  # half a token
    assert not budget.try_spend()
    for _ in range(3):  # plus three fifths of a token
        budget.deposit()
    assert budget.try_spend()
    clock.advance(3600.0)
    assert budget.tokens == 10.0  # capped: a quiet hour does not bank an hour of retries


def test_zero_ratio_and_floor_never_retry_after_the_burst(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.0, min_per_second=0.0, max_tokens=1.0, clock=clock)
    assert budget.try_spend()
    for _ in range(100):
        budget.deposit()
    clock.advance(100.0)
    assert not budget.try_spend()


def test_an_engine_seen_answering_again_gets_its_probe_at_once(clock: FakeClock) -> None:
    b = breaker(clock)
    b.trip()  # a request found it refusing connections
    clock.advance(0.5)  # long before its open time is up
    b.recovered()  # the monitor's scrape succeeded again
    assert state(b) is BreakerState.HALF_OPEN
    assert b.allow()  # one probe ...
    assert not b.allow()  # ... only
    b.record_success()
    assert state(b) is BreakerState.CLOSED
    b.recovered()  # a closed circuit stays as it is
    assert state(b) is BreakerState.CLOSED


def test_failing_requests_are_not_forgiven_because_health_answers(clock: FakeClock) -> None:
    """Opened by failed requests (5xx), the circuit waits out its open time even though the
    monitor sees /health answer: otherwise such an engine would be probed every scrape."""
    b = breaker(clock)
    open_it(b)
    b.recovered()
    assert state(b) is BreakerState.OPEN
    clock.advance(5.0)
    assert state(b) is BreakerState.HALF_OPEN
