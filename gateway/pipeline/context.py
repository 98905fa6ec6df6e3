"""One request's journey as one typed value: what the edge knew, and what each stage added.

A field belongs to the stage that fills it (see ``path.py`` for the order); a later stage
reads it through the accessors below, which fail loudly if it runs out of order.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span
from starlette.types import Receive

from gateway.core.tenant import Principal, Tenant
from gateway.core.topology import Engine
from gateway.metering.service import Admission
from gateway.metering.stream_usage import NO_USAGE, UsageAsked
from gateway.openai.schemas import OpenAIRequest
from gateway.pipeline.endpoints import Endpoint
from gateway.privacy.applied import Applied
from gateway.routing.view import Priority
from gateway.settle import Settlement

if TYPE_CHECKING:
    from gateway.pipeline.record import Recorder


@dataclass(frozen=True, slots=True)
class RequestHints:
    """What a client may say about its request in headers (no content)."""

    conversation: str | None  # the pseudonym map's scope (privacy.conversation_header)
    session: str | None  # the affinity key: routing.session_header, else the `user` field
    priority: Priority
    subject: str | None = None  # the data subject: telemetry.subject_header, else `user`


@dataclass(slots=True)
class RequestContext:
    # The edge: the request as it arrived.
    request_id: str
    endpoint: Endpoint
    headers: Mapping[str, str]
    receive: Receive
    settlement: Settlement
    client: str | None = None  # the peer's address, for the log of a failed authentication
    started_at: float = field(default_factory=time.time)  # wall clock, for records
    started: float = field(default_factory=time.perf_counter)  # for durations
    # authenticate
    principal: Principal | None = None
    # read: the body, checked; who it is about; its trace span
    request: OpenAIRequest | None = None
    payload: dict[str, Any] = field(default_factory=dict)  # what goes to the engine
    stream: bool = False
    usage_asked: UsageAsked = NO_USAGE  # on a stream: the usage the client asked for
    hints: RequestHints = RequestHints(None, None, Priority.INTERACTIVE)
    subject_ref: str | None = None
    model: str = ""  # as telemetry names it: a served model, else "other" (then masked)
    span: Span | None = None
    # residency: where it may go
    candidates: tuple[Engine, ...] = ()
    # policy: what it carries, and what the policy did to it
    applied: Applied | None = None
    context_length: int | None = None
    # admit: what is sent, what it may use; from here the recorder settles it
    finish_on_disconnect: bool = False  # the tenant's choice, else the gateway's default
    body: bytes = b""
    estimate: int = 0
    admission: Admission | None = None
    recorder: Recorder | None = None
    # send
    sent_at: float = 0.0
    # whether the engine that answered was told to mark the text with the watermark (its
    # pool decides: gateway/upstream/watermark.py), for the provenance token's claim
    watermarked: bool = False
    # shape: the provenance token of the answer as sent (gateway/provenance), for its record
    provenance: str | None = None

    @property
    def tenant(self) -> Tenant:
        return self.who.tenant

    @property
    def who(self) -> Principal:
        assert self.principal is not None, "authenticate runs first"
        return self.principal

    @property
    def checked(self) -> OpenAIRequest:
        assert self.request is not None, "read runs before"
        return self.request

    @property
    def admitted(self) -> Admission:
        assert self.admission is not None, "admit runs before"
        return self.admission

    @property
    def record(self) -> Recorder:
        assert self.recorder is not None, "admit runs before"
        return self.recorder
