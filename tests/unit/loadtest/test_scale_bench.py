"""The scale table's plumbing: the measurement counts what the gateway's own calls cost a Redis
of its own and PostgreSQL (a small real run, no timing asserted), and the paper part sizes a
scenario by hand-checkable arithmetic."""

from __future__ import annotations

import math

from loadtest.scale import (
    GATEWAY_MS_PER_REQUEST,
    GATEWAY_US_PER_EVENT,
    HEADROOM,
    Measured,
    Scenario,
    measure,
    scenarios,
    size,
    sizing_table,
)


def _measured(redis_cpu_us: float = 100.0, pg_cpu_us: float = 50.0) -> Measured:
    return Measured(
        requests=1000,
        redis_cpu_us=redis_cpu_us,
        redis_busy=0.5,
        redis_commands={"evalsha": 2.0},
        round_trips=2.0,
        pg_rows=2.0,
        pg_cpu_us=pg_cpu_us,
        ship_per_s=10_000.0,
        audit_per_s=4_000.0,
    )


def test_a_scenario_is_sized_at_half_of_each_measured_ceiling() -> None:
    measured = _measured()
    scenario = Scenario("s", requests_per_s=100_000, output_tokens_per_s=1_000_000, streams=5e4)
    sizing = size(scenario, measured)
    assert measured.shard_ceiling == 10_000  # 1 s / 100 µs
    assert sizing.redis_shards == math.ceil(100_000 / (10_000 * HEADROOM)) == 20
    assert sizing.redis_nodes == 40
    gateway_s = 100_000 * GATEWAY_MS_PER_REQUEST / 1000 + 1_000_000 * GATEWAY_US_PER_EVENT / 1e6
    assert sizing.gateway_cores == math.ceil(gateway_s / HEADROOM)
    assert sizing.pg_ledger_cores == math.ceil(100_000 / (20_000 * HEADROOM)) == 10
    assert sizing.pg_audit_instances == math.ceil(100_000 / (4_000 * HEADROOM)) == 50


def test_the_scenarios_are_the_planners_10000_b200_readings() -> None:
    rows = scenarios()
    assert len(rows) == 4
    assert all(r.requests_per_s > 10_000 and r.streams > 100_000 for r in rows)
    assert len(sizing_table(_measured())) == 2 + 4


def test_a_small_run_measures_every_request_on_redis_and_postgres() -> None:
    measured = measure(requests=1000, clients=1, concurrency=8, audit_per_s=1.0)
    assert measured.requests == 1000
    # One admission and one metering each, and the shipper's few batch calls.
    assert measured.redis_commands["evalsha"] == 2.0
    assert measured.redis_commands["xadd"] == 1.0
    assert 2.0 <= measured.round_trips < 2.1  # 8 tenants: a few shipper calls each
    assert measured.pg_rows >= 2.0  # the record and its id
    assert measured.redis_cpu_us > 0
    # psutil counts CPU in 10 ms ticks: a small run's PostgreSQL share may round to none.
    assert measured.pg_cpu_us >= 0
    assert measured.ship_per_s > 0
