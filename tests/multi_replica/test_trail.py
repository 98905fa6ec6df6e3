"""The audit trail the four replicas wrote: one PostgreSQL chain each, anchored together, holds
one entry per served request in the chain of the replica that served it, and
``sovereign-gateway audit verify`` passes after everything the package's other tests did (it
runs last: the file sorts after theirs)."""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from tests.multi_replica.load import chat, fire, tally
from tests.multi_replica.topology import PG_DSN, Topology


def _audited(replicas: Topology, tenant: str) -> list[tuple[str, str]]:
    """(chain, request id) of the tenant's request entries."""
    query = sql.SQL(
        "SELECT chain, body->>'request_id' FROM {} WHERE tenant = %s AND kind = 'request'"
    ).format(sql.Identifier(replicas.schema, "audit_log"))
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        return [(str(c), str(r)) for c, r in conn.execute(query, (tenant,)).fetchall()]


def test_every_request_is_audited_once_in_its_replicas_chain_and_verify_passes(
    replicas: Topology,
) -> None:
    tenant = replicas.tenants["trail"]
    urls = [g.base_url for g in replicas.gateways]
    outcomes = fire(urls, tenant.key, [chat(3) for _ in range(40)], workers=8)
    assert tally(outcomes) == {200: 40}
    deadline = time.monotonic() + 15  # written in batches after the answers
    while len(_audited(replicas, tenant.id)) < 40 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(_audited(replicas, tenant.id)) == sorted(
        (f"gw{o.gateway}", str(o.request_id)) for o in outcomes
    )
    time.sleep(1.5)  # an anchor (every second) commits the chains' latest heads
    done = replicas.audit_verify()
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "intact" in done.stdout
