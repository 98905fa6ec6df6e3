"""Schemathesis against the gateway's own OpenAPI (``/v1`` and ``/admin/v1``): valid and
invalid requests generated from every operation's schema, each answered without a 5xx the
gateway caused and with OpenAI-style errors; then nothing is left behind (issue 12).

A real gateway process over HTTP (``conftest.py``), so the protocol layer is under test too.
Bounded by ``SOVEREIGN_FUZZ_EXAMPLES`` examples per operation.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from gateway.app import create_app
from tests.fuzz.conftest import DERANDOMIZE, EXAMPLES, FuzzTarget
from tests.fuzz.verdict import leftovers, problems_with
from tests.unit.conftest import make_settings


def _openapi() -> dict[str, Any]:
    """The gateway's own OpenAPI document, as its app serves it at /openapi.json (the same
    for any configuration: routes and schemas do not depend on it)."""
    return create_app(make_settings()).openapi()


schema = schemathesis.openapi.from_dict(_openapi())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=DERANDOMIZE,
)
def test_every_operation_answers_within_the_contract(case: Any, fuzz_target: FuzzTarget) -> None:
    token = fuzz_target.admin_token if case.path.startswith("/admin/") else fuzz_target.key
    if isinstance(case.body, dict) and isinstance(case.body.get("model"), str):
        # A random name stops at residency (404); the served one takes the whole path.
        case.body["model"] = fuzz_target.model
    response = case.call(
        base_url=fuzz_target.gateway.base_url,
        headers={"authorization": f"Bearer {token}"},
        timeout=60,
    )
    content_type = response.headers.get("content-type", [""])
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    problems = problems_with(response.status_code, response.content, content_type, case.path)
    assert not problems, f"{case.method} {case.formatted_path}: {problems}"


def test_the_schema_fuzz_left_no_lease_or_admission_behind(fuzz_target: FuzzTarget) -> None:
    assert leftovers(fuzz_target.redis_url) == {}
