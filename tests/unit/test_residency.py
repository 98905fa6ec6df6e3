"""The pure residency rule, checked exhaustively over small random topologies."""

from __future__ import annotations

import random

import pytest

from gateway.errors import ModelNotFound, ResidencyViolation
from gateway.residency import candidate_engines, reachable_models
from gateway.topology import Engine, Pool, Tenant, Topology

JURISDICTIONS = ["DE", "AT", "FR", "US", "NL"]
MODELS = ["a", "b", "c"]


def random_topology(rng: random.Random) -> Topology:
    pools, engines = [], []
    for i in range(rng.randint(0, 6)):
        pool = Pool(
            f"p{i}",
            rng.choice(JURISDICTIONS),
            f"s{i}",
            "cpu",
            frozenset(rng.sample(MODELS, rng.randint(1, 3))),
        )
        pools.append(pool)
        engines += [Engine(f"http://p{i}-e{j}", pool) for j in range(rng.randint(1, 3))]
    return Topology(tuple(pools), tuple(engines))


@pytest.mark.parametrize("seed", range(300))
def test_candidates_are_exactly_the_allowed_engines_serving_the_model(seed: int) -> None:
    rng = random.Random(seed)
    topology = random_topology(rng)
    tenant = Tenant(
        "t",
        frozenset(rng.sample(JURISDICTIONS, rng.randint(1, 3))),
        None if rng.random() < 0.5 else frozenset(rng.sample(MODELS, rng.randint(1, 3))),
    )
    model = rng.choice(MODELS)
    expected = [
        e
        for e in topology.engines
        if e.pool.jurisdiction in tenant.allowed_jurisdictions and model in e.pool.models
    ]
    try:
        got = candidate_engines(tenant, model, topology)
    except ModelNotFound:
        assert not tenant.may_use(model) or model not in topology.served_models()
        return
    except ResidencyViolation:
        assert expected == []
        assert tenant.may_use(model)
        assert model in topology.served_models()
        return
    assert list(got) == expected
    assert expected
    assert model in reachable_models(tenant, topology)
