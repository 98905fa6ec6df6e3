"""The deployment, once for the package: its tenants are configured, fresh ids per run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.multi_replica.topology import TenantPlan, Topology, topology

TENANTS = [
    TenantPlan.of("rpm", requests_per_minute=40),
    TenantPlan.of("concurrent", concurrent=3),
    TenantPlan.of("meter", tokens_per_minute=10**9),
    TenantPlan.of("trail", tokens_per_minute=10**9),
]


@pytest.fixture(scope="package")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with topology(tmp_path_factory.mktemp("multi-replica"), TENANTS) as running:
        yield running
