"""The service behind the inference routers: residency check, forward, relay.

Routers parse and authenticate; this decides where the request may go (pure residency
decision), sends it there, and shapes the answer. Policies, quotas and metering hook in here
in later issues.
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

from gateway.auth import Principal
from gateway.openai.common import OpenAIRequest
from gateway.residency import candidate_engines
from gateway.resources import Resources
from gateway.topology import Engine
from gateway.upstream.relay import RelayResponse


def served_by_headers(engine: Engine) -> dict[str, str]:
    """Where the request was processed: shown on every answer an engine produced."""
    pool = engine.pool
    return {
        "x-sovereign-jurisdiction": pool.jurisdiction,
        "x-sovereign-site": pool.site,
        "x-sovereign-pool": pool.name,
    }


async def proxy(
    resources: Resources,
    principal: Principal,
    request_id: str,
    path: str,
    request: OpenAIRequest,
    *,
    stream: bool = False,
) -> Response:
    candidates = candidate_engines(principal.tenant, request.model, resources.topology)
    payload = orjson.dumps(request.forward_payload())
    forwarder = resources.forwarder
    if stream:
        upstream = await forwarder.open(principal.tenant, candidates, path, payload, request_id)
        return RelayResponse(upstream.events(), served_by_headers(upstream.engine))
    answer = await forwarder.call(principal.tenant, candidates, path, payload, request_id)
    return Response(
        answer.body,
        status_code=answer.status,
        media_type=answer.content_type,
        headers=served_by_headers(answer.engine),
    )
