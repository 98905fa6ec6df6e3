"""The Redis client benchmark measures the gateway's own calls, through each client, and judges
them by the issue's 25 % bar. No timing: the clients run one admission and one metering each
against the local Redis (db 9, the benchmark's), and the verdict is checked on set figures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import redis

from gateway.quota.redis_store import handoff_key, pending_key, scope_keys
from gateway.quota.resp import Script
from loadtest.redis_clients import (
    HOST,
    METER_SHA,
    SINGLE_DB,
    SINGLE_PORT,
    Candidate,
    Row,
    StoreOnly,
    Target,
    Totals,
    admissions,
    available,
    cluster_ports,
    delete_keys,
    load_scripts,
    meterings,
    requests_for,
    scopes_of,
    store_for,
    verdicts,
)

SINGLE = Target("single", (SINGLE_PORT,), SINGLE_DB)
CLIENTS = [c for c in available()[0] if c.name != "store only"]


class Recorder(StoreOnly):
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], list[object]]] = []

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[object]) -> Any:
        self.calls.append((script.sha, list(keys), list(args)))
        return await super().evalsha(script, keys, args)


async def test_the_calls_are_the_stores_admission_and_metering() -> None:
    recorder = Recorder()
    store = store_for(recorder)
    requests = requests_for("rcbench-test", 3)
    for call in [*admissions(store, requests), *meterings(store, requests)]:
        await call()
    admit, meter = recorder.calls[:3], recorder.calls[3:]
    tenant, request_id = requests[0]
    tenant_keys, key_keys = (scope_keys(scope, 0)[:3] for scope in scopes_of(tenant))
    sha, keys, args = admit[0]
    assert sha != METER_SHA
    assert sha == admit[1][0]
    assert keys[:3] == list(tenant_keys)
    assert keys[4:7] == list(key_keys)
    assert keys[8] == pending_key(tenant)
    assert len(keys) == 9
    assert args[:3] == [2, 100, request_id]
    assert len(args) == 5 + 2 * 4 + 1
    sha, keys, args = meter[0]
    assert sha == METER_SHA
    assert keys[1:3] == [handoff_key(tenant), pending_key(tenant)]
    assert args[5] == request_id
    assert args[6] == 1
    # Spread over tenants, so that a cluster's primaries all get some.
    assert len({call[1][-1] for call in admit}) == 3


@pytest.mark.parametrize("candidate", CLIENTS, ids=[c.name for c in CLIENTS])
async def test_each_client_admits_and_meters_on_real_redis(candidate: Candidate) -> None:
    run = "rcbench-test-" + candidate.name.replace(".", "-")
    load_scripts(SINGLE)
    requests = requests_for(run, 2)
    try:
        async with candidate.open(SINGLE) as runner:
            store = store_for(runner)
            decisions = [await call() for call in admissions(store, requests)]
            with redis.Redis(host=HOST, port=SINGLE_PORT, db=SINGLE_DB) as check:
                leases = scope_keys(scopes_of(requests[0][0])[0], 0)[2]
                assert check.zscore(leases, requests[0][1]) is not None
                metered = [await call() for call in meterings(store, requests)]
                assert check.zscore(leases, requests[0][1]) is None
                assert check.xlen(handoff_key(requests[1][0])) == 1
        assert all(getattr(d, "allowed", False) for d in decisions)
        assert metered == [True, True]
    finally:
        delete_keys(SINGLE, run)


def _row(client: str, target: str, cpu_us: float) -> Row:
    row = Row(client, target)
    row.admit = Totals(cpu=cpu_us * 1e-6 * 1000, wall=1.0, calls=1000, latencies=[0.001])
    return row


def test_the_verdict_is_the_issues_25_percent_of_resp_py_on_one_node() -> None:
    rows = [
        _row("store only", "single", 20),
        _row("resp.py", "single", 100),
        _row("near", "single", 125),
        _row("far", "cluster", 132),
    ]
    near, far = verdicts(rows)
    assert "+25% against resp.py's 100 µs: within 25 %" in near
    assert "+32% against resp.py's 100 µs: **not within** 25 %" in far
    assert "less the store's 20 µs: +40%" in far
    assert verdicts(rows[2:]) == ["- no verdict: resp.py was not measured"]


def test_cluster_ports_leave_room_for_the_bus() -> None:
    ports = cluster_ports(3)
    assert len(set(ports)) == 3
    assert all(p + 10000 <= 65535 for p in ports)
