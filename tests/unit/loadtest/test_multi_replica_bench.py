"""The multi-replica benchmark's plumbing: its gateway configuration is one the gateway
accepts, its clients count against a real (simulated) engine, its Redis and PostgreSQL
readings come from real servers, and its table reports medians of the rounds."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import psycopg
import redis
from psycopg import sql

from gateway.settings import Settings
from loadtest.multi_replica import (
    PG_DSN,
    Sample,
    drive,
    gateway_config,
    order,
    parse_args,
    pg_records,
    pg_rows,
    pg_schema,
    redis_cpu,
    settled_rows,
    table,
    tenants_of,
)
from serving.simulator.background import SimulatorThread
from serving.simulator.host import SimulatorConfig


def test_the_gateway_configuration_is_valid(tmp_path: Path) -> None:
    tenants = tenants_of(3)
    config = gateway_config(
        "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
        ["http://127.0.0.1:9000", "http://127.0.0.1:9001"],
        tmp_path,
        tenants,
        8123,
        "bench_abc",
    )
    settings = Settings.model_validate(config)
    assert [t.id for t in settings.tenants] == [t.id for t in tenants]
    assert settings.metering.ledger_schema == "bench_abc"
    assert settings.server.port == 8123
    assert all(t.limits.any() for t in settings.tenants)  # admission goes through Redis


def test_rounds_rotate_the_order_of_gateway_counts() -> None:
    assert order([1, 2, 4], 4) == [[1, 2, 4], [2, 4, 1], [4, 1, 2], [1, 2, 4]]
    args = parse_args(["--gateways", "1,4", "--seconds", "5", "--rounds", "2"])
    assert (args.gateways, args.seconds, args.rounds) == ([1, 4], 5.0, 2)


def test_the_table_shows_medians_per_request() -> None:
    samples = [
        # 100/s, 2 ms and 0.2 cores of gateway, 50 µs of Redis, 3 rows a record, ...
        Sample(1, 10.0, 1000, 0, 2.0, 0.05, 3000, 1000, 0.010, 10.0),
        Sample(1, 10.0, 1200, 1, 3.6, 0.12, 3000, 1500, 0.030, 14.0),  # 2 rows a record
        Sample(1, 10.0, 800, 0, 2.0, 0.06, 2500, 1000, 0.020, 12.0),  # 2.5 rows a record
        Sample(4, 10.0, 2000, 0, 8.0, 0.1, None),  # no PostgreSQL tables
    ]
    rows = table(samples)
    assert rows[2] == "| 1 | 100 (80-120) | 2.50 | 0.20 | 75 | 20.0 | 2.50 | 1.20 | 1 |"
    assert rows[3] == "| 4 | 200 (200-200) | 4.00 | 0.80 | 50 | 0.0 | n/a | 0.00 | 0 |"


def test_ledger_records_and_rows_are_read_from_the_schema() -> None:
    with pg_schema() as schema:
        assert pg_records(schema) == 0  # no ledger (yet)
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            ids = sql.Identifier(schema, "ledger_ids")
            conn.execute(sql.SQL("CREATE TABLE {} (request_id text)").format(ids))
            conn.execute(sql.SQL("INSERT INTO {} VALUES ('a'), ('b')").format(ids))
        assert pg_records(schema) == 2
        assert settled_rows(schema) == 2


def test_redis_cpu_is_read_from_a_real_node() -> None:
    client = redis.Redis(port=6379)
    try:
        first = redis_cpu(client.info("cpu"))
    finally:
        client.close()
    assert first > 0


def test_pg_rows_counts_the_writes_in_the_run_schema() -> None:
    with pg_schema() as schema:
        assert pg_rows(schema) is None  # nothing of the gateway there yet
        table_name = sql.Identifier(schema, "t")
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            for statement in (
                "CREATE TABLE {} (n int)",
                "INSERT INTO {} SELECT generate_series(1, 5)",
                "UPDATE {} SET n = n + 1 WHERE n < 3",
            ):
                conn.execute(sql.SQL(statement).format(table_name))
        deadline = time.monotonic() + 10  # the statistics arrive within about a second
        while pg_rows(schema) != 7 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pg_rows(schema) == 7


async def test_the_clients_count_answers_after_the_warm_up() -> None:
    config = SimulatorConfig("b200/llama-3.1-8b", "llama-3.1-8b", engines=2, speed=0.05)
    with SimulatorThread(config) as sim:
        served, errors = await drive(sim.base_urls, tenants_of(2), 4, 0.5, 4, warm_up=0.2)
        assert served > 4
        assert errors == 0
        # An answer other than 200 (a path the engine does not serve) is an error.
        kinds: Counter[str] = Counter()
        bad, failed = await drive(
            [sim.base_urls[0] + "/nope"], tenants_of(1), 2, 0.3, 4, 0.1, kinds=kinds
        )
        assert bad == 0
        assert failed > 0
        assert set(kinds) == {"404"}
