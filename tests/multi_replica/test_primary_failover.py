"""A Redis primary killed mid-load, the one holding two tenants' hash slot: its replica takes
over, and every request is either served and metered exactly once, or refused cleanly (503
``quota_store_unavailable``, OpenAI-style), never a 500 or a hang.

The tenants are created through the admin API with ids chosen so that both live on the same
primary: one ``fail_closed`` (refused while the slot has no primary), one ``fail_open``
(served under each replica's local limits; its records wait in the disk spool and land once
the slot is served again). Afterwards the durable ledger holds each served request exactly
once, with the engines' own counts, and nothing else.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

import httpx

from tests.multi_replica.load import Outcome, chat, hammer, tally
from tests.multi_replica.topology import TenantPlan, Topology

LIMITS = {"tokens_per_minute": 10**9, "concurrent": 1000}  # never refusing, all through Redis


def _tenant_on(replicas: Topology, primary: int | None, name: str, mode: str) -> TenantPlan:
    """A tenant created through the admin API whose slot is on ``primary`` (any if None)."""
    while True:
        tenant_id = f"mr-{name}-{uuid.uuid4().hex[:8]}"
        if primary is None or replicas.cluster.primary_for_key("{" + tenant_id + "}") == primary:
            break
    with replicas.gateways[0].admin() as admin:
        created = admin.post(
            "/tenants", json={"id": tenant_id, "limits": LIMITS, "degraded_mode": mode}
        )
        assert created.status_code == 201, created.text
        issued = admin.post(f"/tenants/{tenant_id}/keys", json={})
        assert issued.status_code == 201, issued.text
    plan = TenantPlan(name, tenant_id, issued.json()["key"], LIMITS, mode)
    for gateway in replicas.gateways:  # every replica knows the key (directory polling)
        deadline = time.monotonic() + 5
        while (
            httpx.get(
                gateway.base_url + "/v1/models",
                timeout=5,
                headers={"authorization": f"Bearer {plan.key}"},
            ).status_code
            != 200
        ):
            assert time.monotonic() < deadline, "a replica never saw the new key"
            time.sleep(0.05)
    return plan


def _body(n: int) -> dict[str, Any]:
    return chat(4 + n % 13, stream=n % 3 == 0, usage=n % 6 == 0, prompt=f"Anfrage {n}")


def _assert_metered_once(replicas: Topology, tenant: TenantPlan, served: list[Outcome]) -> None:
    ids = sorted(str(o.request_id) for o in served)
    ledger = replicas.wait_usage(tenant, len(ids), timeout=45)
    assert sorted(r.request_id for r in ledger) == ids, (
        f"{tenant.name}: {len(ledger)} records for {len(ids)} served; "
        f"twice: {[i for i, n in Counter(r.request_id for r in ledger).items() if n > 1]}; "
        f"missing: {sorted(set(ids) - {r.request_id for r in ledger})[:5]}"
    )
    engines = replicas.witness.usage()
    assert {r.request_id: (r.prompt_tokens, r.completion_tokens) for r in ledger} == {
        i: engines[i] for i in ids
    }


def test_a_primary_killed_mid_load_loses_and_doubles_nothing(replicas: Topology) -> None:
    cluster = replicas.cluster
    closed = _tenant_on(replicas, None, "closed", "fail_closed")
    primary = cluster.primary_for_key("{" + closed.id + "}")
    opened = _tenant_on(replicas, primary, "open", "fail_open")
    replicas.witness.reset()
    timings: dict[str, float] = {}

    def kill_the_primary() -> None:
        time.sleep(2.0)  # load flowing through the doomed primary first
        cluster.kill(primary)
        killed = time.monotonic()
        cluster.wait_failover(primary, timeout=30)
        timings["failover"] = time.monotonic() - killed

    tenants = (closed, opened)
    urls = [g.base_url for g in replicas.gateways]
    outcomes = hammer(
        urls,
        workers=8,
        seconds=4.0,
        during=kill_the_primary,
        next_call=lambda n: (tenants[n % 2].key, _body(n)),
    )
    by_tenant = {t.name: [o for o in outcomes if o.key == t.key] for t in tenants}
    print(
        f"failover {timings['failover']:.1f} s; closed {tally(by_tenant['closed'])}, "
        f"open {tally(by_tenant['open'])}"
    )

    # The slot's replica was promoted.
    promoted = cluster.primary_for_key("{" + closed.id + "}")
    assert promoted != primary
    assert cluster.node(promoted).role == "replica"  # as started

    # Served, or refused cleanly: no 500, no hang, no error in the middle of a stream.
    assert {o.status for o in outcomes} <= {200, 503}, tally(outcomes)
    assert all(o.error_type is None for o in outcomes if o.status == 200)
    refused = [o for o in outcomes if o.status == 503]
    assert {(o.error_type, o.error_code) for o in refused} <= {
        ("api_error", "quota_store_unavailable")
    }, {o.detail for o in refused}
    assert max(o.seconds for o in outcomes) < 10
    # The fail-closed tenant met the outage and was served again after it; the fail-open
    # tenant was served throughout.
    closed_statuses = [o.status for o in by_tenant["closed"]]  # in the order they ended
    assert 503 in closed_statuses
    last_refusal = len(closed_statuses) - 1 - closed_statuses[::-1].index(503)
    assert 200 in closed_statuses[last_refusal:]
    assert all(o.status == 200 for o in by_tenant["open"])

    served = [o for o in outcomes if o.served]
    assert set(replicas.witness.usage()) == {o.request_id for o in served}
    for tenant in tenants:
        _assert_metered_once(replicas, tenant, [o for o in served if o.key == tenant.key])
    spooled = sum(g.log_path.read_text().count("ledger.spooled") for g in replicas.gateways)
    assert spooled > 0  # the fail-open records went through a disk spool, and landed once
