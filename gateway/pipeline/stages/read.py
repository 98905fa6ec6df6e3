"""Read: the body, parsed strictly and checked against its endpoint's schema (400); what the
client says in headers; who the request is about (a bearer JWT's subject, else the subject
header or the ``user`` field); the request's trace span opens.

The body is read here, after authentication, so an unauthenticated client learns nothing
about what a valid body looks like. Its size is bounded while it is read (the edge's limit).
"""

from __future__ import annotations

import json

from pydantic import ValidationError
from starlette.types import Receive

from gateway.errors import InvalidRequest
from gateway.http_errors import from_validation
from gateway.metering.stream_usage import UsageAsked
from gateway.openai.body import parse_json
from gateway.pipeline.context import RequestContext, RequestHints
from gateway.routing.view import Priority
from gateway.settings import Settings
from gateway.telemetry.hub import Observability
from gateway.telemetry.labels import OTHER
from gateway.topology import Topology


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequest("The client went away before sending the whole body.")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class Read:
    def __init__(self, settings: Settings, topology: Topology, observability: Observability):
        self._conversation = settings.privacy.conversation_header
        self._session = settings.routing.session_header
        self._subject = settings.telemetry.subject_header
        self._served = topology.models
        self._observability = observability

    async def __call__(self, ctx: RequestContext) -> None:
        body = await read_body(ctx.receive)
        try:
            request = ctx.endpoint.schema.model_validate(parse_json(body))
        except json.JSONDecodeError:
            raise from_validation([{"type": "json_invalid"}]) from None
        except ValidationError as exc:
            raise from_validation(exc.errors()) from None
        payload = request.forward_payload()
        ctx.request, ctx.payload = request, payload
        if ctx.endpoint.generates:
            ctx.stream = bool(payload.get("stream"))
            ctx.usage_asked = UsageAsked.of(payload.get("stream_options"))
        user = payload.get("user")
        user = user if isinstance(user, str) and user else None
        headers = ctx.headers
        batch = headers.get("x-sovereign-priority", "").strip().lower() == "batch"
        # A bearer JWT's subject is authenticated: it is the data subject, whatever the body
        # or the headers claim (records keep only its keyed reference, as for the others).
        authenticated = ctx.principal.subject if ctx.principal is not None else None
        ctx.hints = RequestHints(
            headers.get(self._conversation),
            headers.get(self._session) or user,
            Priority.BATCH if batch else Priority.INTERACTIVE,
            authenticated or headers.get(self._subject) or user,
        )
        observability = self._observability
        ctx.subject_ref = observability.subject_ref(ctx.hints.subject)
        # A name nobody serves is the client's string: "other" until it is refused (404),
        # then kept for the record capped and masked (Records.refused).
        ctx.model = request.model if request.model in self._served else OTHER
        ctx.span = observability.start(
            ctx.endpoint.name, ctx.model, ctx.request_id, ctx.tenant.id, payload, ctx.started_at
        )
