"""Limits hold across four replicas under concurrent load: a requests-per-minute limit admits
exactly its number, a concurrency limit is reached and never exceeded, as the engines saw it."""

from __future__ import annotations

from tests.multi_replica.load import Outcome, chat, fire, hammer, tally
from tests.multi_replica.topology import Topology


def _assert_refusals_are_rate_limits(outcomes: list[Outcome]) -> None:
    refused = [o for o in outcomes if not o.served]
    others = [(o.status, o.error_code, o.detail) for o in refused if o.status != 429]
    assert not others, (tally(outcomes), others[:5])
    assert {(o.error_type, o.error_code) for o in refused} == {
        ("rate_limit_error", "rate_limit_exceeded")
    }


def test_requests_per_minute_admit_exactly_the_limit_across_replicas(replicas: Topology) -> None:
    tenant = replicas.tenants["rpm"]
    limit = tenant.limits["requests_per_minute"]
    replicas.witness.reset()
    urls = [g.base_url for g in replicas.gateways]
    outcomes = fire(urls, tenant.key, [chat(4) for _ in range(4 * limit)], workers=32)
    served = [o for o in outcomes if o.served]
    assert len(served) == limit, tally(outcomes)
    _assert_refusals_are_rate_limits(outcomes)
    assert {o.gateway for o in served} == set(range(len(urls)))  # every replica admitted some
    ids = {o.request_id for o in served}
    assert set(replicas.witness.usage()) == ids  # the engines saw exactly the admitted ones
    ledger = replicas.wait_usage(tenant, len(served))
    assert sorted(r.request_id for r in ledger) == sorted(str(i) for i in ids)


def test_a_concurrency_limit_is_reached_and_never_exceeded(replicas: Topology) -> None:
    tenant = replicas.tenants["concurrent"]
    limit = tenant.limits["concurrent"]
    replicas.witness.reset()
    urls = [g.base_url for g in replicas.gateways]
    # Each admitted request holds its slot ~0.4 s at the engine (120 tokens at ~3 ms).
    outcomes = hammer(urls, workers=12, seconds=3.0, next_call=lambda _: (tenant.key, chat(120)))
    served = [o for o in outcomes if o.served]
    _assert_refusals_are_rate_limits(outcomes)
    assert replicas.witness.peak == limit, f"peak {replicas.witness.peak}, {tally(outcomes)}"
    assert len(served) >= limit
    assert set(replicas.witness.usage()) == {o.request_id for o in served}
    ledger = replicas.wait_usage(tenant, len(served))
    assert sorted(r.request_id for r in ledger) == sorted(str(o.request_id) for o in served)
    assert all(r.completion_tokens == 120 for r in ledger)
