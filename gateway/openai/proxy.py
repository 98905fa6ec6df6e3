"""The service behind the inference routers: residency, policy, admission, relay, metering.

Routers parse and authenticate; this decides where the request may go (pure residency
decision), puts the prompt through the tenant's GDPR policy (which may block it, narrow the
pools it may go to, or rewrite it), admits it against the tenant's limits, sends it, shapes
the answer (masks, restored placeholders), and meters the engine's usage exactly once,
whatever happens to the request.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.responses import Response

from gateway.auth import Principal
from gateway.errors import GatewayError, InvalidRequest, NoPoolForDataClass, render_json
from gateway.metering import estimate
from gateway.metering.record import UsageRecord
from gateway.metering.recorder import Recorder
from gateway.metering.response import MeteredResponse
from gateway.metering.stream import MeteredStream, StreamOutcome
from gateway.metering.usage import usage_of_body
from gateway.openai.common import OpenAIRequest
from gateway.privacy.answer import StreamRestoring, filter_body
from gateway.privacy.applied import Applied
from gateway.privacy.content import ContentCapture
from gateway.privacy.stream_guard import AnswerGuard, GuardedStream, guarded_types
from gateway.residency import candidate_engines
from gateway.resources import RequestHints, Resources
from gateway.routing.view import Priority, RouteContext
from gateway.settle import Settlement
from gateway.telemetry.labels import OTHER
from gateway.topology import Engine
from gateway.upstream.relay import RelayResponse, RelaySource

ENDPOINTS = {
    "/v1/chat/completions": "chat.completions",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
}


def served_by_headers(engine: Engine) -> dict[str, str]:
    """Where the request was processed: shown on every answer an engine produced."""
    pool = engine.pool
    return {
        "x-sovereign-jurisdiction": pool.jurisdiction,
        "x-sovereign-site": pool.site,
        "x-sovereign-pool": pool.name,
    }


def _cleared(candidates: tuple[Engine, ...], applied: Applied | None) -> tuple[Engine, ...]:
    """Only pools carrying every data class the policy routes this prompt to (still in the
    tenant's jurisdictions: the candidates already are)."""
    if applied is None or not applied.route_classes:
        return candidates
    needed = applied.route_classes
    cleared = tuple(e for e in candidates if needed <= e.pool.data_classes)
    if not cleared:
        raise NoPoolForDataClass(
            f"Your policy ({applied.policy.id}) sends this request only to pools cleared for "
            f"{', '.join(sorted(needed))}, and none serving this model is in your "
            "jurisdictions. The request was not sent.",
            param="model",
        )
    return cleared


def _refusal(
    resources: Resources,
    principal: Principal,
    request_id: str,
    path: str,
    model: str,
    stream: bool,
    refused: GatewayError,
    started_at: float,
    started: float,
    subject_ref: str | None,
) -> UsageRecord:
    """The record of a request refused before any engine saw it (residency, policy, limits):
    logged, counted and audited like any other, never metered (it used nothing)."""
    policy = None
    try:
        found = resources.privacy.catalogue.for_tenant(principal.tenant)
        policy = found.label if found is not None else None
    except GatewayError:
        pass
    return UsageRecord(
        request_id=request_id,
        tenant=principal.tenant.id,
        key_id=principal.key_id,
        endpoint=ENDPOINTS[path],
        model=model,
        pool="",
        site="",
        jurisdiction="",
        engine="",
        stream=stream,
        status="failed",
        http_status=refused.status,
        prompt_tokens=0,
        completion_tokens=0,
        usage_source="estimate",
        estimated_tokens=0,
        started_at=started_at,
        ttft_ms=None,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        gateway=resources.gateway_id,
        policy=policy,
        policy_mode=None,
        pii=f"refused:{refused.code}" if refused.code else None,
        subject_ref=subject_ref,
    )


def _overhead(started: float, sent: float, received: float) -> str:
    """The gateway's own time on the request so far: all of it but the wait for the engine."""
    return f"{((time.perf_counter() - started) - (received - sent)) * 1000:.2f}"


def _route_context(
    principal: Principal,
    model: str,
    payload: dict[str, Any],
    hints: RequestHints,
    estimated: int,
) -> RouteContext:
    """What routing may know: the session key (header, else the OpenAI ``user`` field), the
    tenant's site preference, priority and size; never content."""
    user = payload.get("user")
    session = hints.session or (user if isinstance(user, str) and user else None)
    return RouteContext(
        tenant=principal.tenant.id,
        model=model,
        session_key=session,
        preferred_sites=principal.tenant.preferred_sites,
        priority=hints.priority,
        prompt_tokens=estimated,
    )


def _estimate(
    resources: Resources,
    principal: Principal,
    payload: dict[str, Any],
    path: str,
    context: int | None,
) -> int:
    # Tokenizing costs ~0.7 µs per token: only when a token limit will read the estimate.
    if not any(s.limits.tokens_per_minute or s.limits.monthly_tokens for s in principal.scopes):
        return 0
    return estimate.estimate(
        payload,
        generates=path != "/v1/embeddings",
        default_completion=resources.settings.metering.default_completion_tokens,
        context=context,
    )


def _context_length(resources: Resources, model: str, candidates: tuple[Engine, ...]) -> int | None:
    """The model's context length: its pools' configuration, else the engines' model cards."""
    configured = [e.pool.max_model_len for e in candidates if e.pool.max_model_len]
    if configured:
        return max(length for length in configured if length)
    return resources.router.monitor.context_length(model, candidates)


def _serialised(payload: dict[str, Any]) -> bytes:
    """The body sent to the engine, made before admission: a value that cannot be sent is the
    request's fault (400), and nothing has been charged for it yet."""
    try:
        return orjson.dumps(payload)
    except TypeError as exc:
        raise InvalidRequest(
            "The request holds a value that cannot be sent to the engine (numbers must be "
            "64-bit integers or finite floats, text valid Unicode).",
            code="invalid_value",
        ) from exc


async def proxy(
    resources: Resources,
    principal: Principal,
    request_id: str,
    path: str,
    request: OpenAIRequest,
    *,
    stream: bool = False,
    hints: RequestHints | None = None,
    settlement: Settlement | None = None,
) -> Response:
    hints = hints or RequestHints(None, None, Priority.INTERACTIVE)
    settlement = settlement or Settlement()
    payload = request.forward_payload()
    user = payload.get("user")
    subject = hints.subject or (user if isinstance(user, str) and user else None)
    started_at, started = time.time(), time.perf_counter()
    observability = resources.observability
    subject_ref = observability.subject_ref(subject)
    # A name nobody serves is the client's string: "other" until it is refused (404), then
    # kept for the record capped and analysed (Privacy.client_string).
    served = request.model in resources.topology.models
    model = request.model if served else OTHER
    span = observability.start(
        ENDPOINTS[path], model, request_id, principal.tenant.id, payload, started_at
    )
    options = payload.get("stream_options") or {}
    client_wants_usage = bool(options.get("include_usage"))
    try:
        candidates = candidate_engines(principal.tenant, request.model, resources.topology)
        applied = await resources.privacy.prompts.apply(
            principal.tenant, path, payload, hints.conversation, subject_ref
        )
        candidates = _cleared(candidates, applied)
        context = _context_length(resources, request.model, candidates)
        estimate.check_context(payload, context)
        if stream:
            # The engine's usage report is the truth: always ask for it (stripped if not wanted).
            payload["stream_options"] = {**options, "include_usage": True}
        body = _serialised(payload)
        estimated = _estimate(resources, principal, payload, path, context)
        admission = await resources.metering.admit(principal, estimated, request_id)
    except GatewayError as refused:  # nothing was sent: no usage to meter, but on record
        if not served:
            model = await resources.privacy.client_string(request.model, principal.tenant)
        record = _refusal(resources, principal, request_id, path, model, stream,
                          refused, started_at, started, subject_ref)  # fmt: skip
        observability.finished(span, record, error_type=refused.code or str(refused.status))
        raise
    # Admitted: from here the request's record settles the admission, exactly once, on
    # every path; the settlement net records it as failed if nothing else did.
    recorder = Recorder(
        resources.metering,
        principal,
        request_id,
        ENDPOINTS[path],
        model,
        payload,
        stream,
        estimated,
        admission.shared,
        resources.gateway_id,
        started_at,
        started,
        applied,
        observability,
        span,
        subject_ref,
    )
    settlement.on_exit(recorder.abandon)
    privacy_headers = applied.headers() if applied is not None else {}
    # EU AI Act Art. 50: the tenant's users are told the content is AI-generated.
    marker = {"x-sovereign-ai-generated": "true"} if principal.tenant.ai_act_marker else {}
    if applied is not None and applied.policy.log_content and applied.mode != "degraded":
        recorder.content = ContentCapture.of_request(applied.policy, payload, path)
        recorder.analysis = resources.privacy.analysis
    forwarder = resources.forwarder
    ctx = _route_context(principal, request.model, payload, hints, estimated)
    if stream:
        sent = time.perf_counter()
        try:
            upstream = await forwarder.open(
                principal.tenant, candidates, path, body, request_id, ctx
            )
        except GatewayError as exc:
            await recorder.record(None, "failed", exc.status, None)
            raise
        engine = upstream.engine
        # Response rules that mask or block need the answer guard (which restores after it);
        # otherwise placeholders are restored in the metering tap, with no extra layer.
        guarded = (
            applied is not None
            and applied.mode != "degraded"
            and bool(guarded_types(applied.policy))
        )
        restore_only = applied is not None and bool(applied.mapping) and not guarded

        async def on_end(outcome: StreamOutcome) -> None:
            await recorder.stream_ended(engine, outcome)

        source = MeteredStream(
            upstream,
            client_wants_usage=client_wants_usage,
            finish_on_disconnect=resources.settings.metering.on_client_disconnect == "finish",
            on_end=on_end,
            started=recorder.started,
            transform=StreamRestoring(applied.mapping) if applied and restore_only else None,
            capture=recorder.content.stream_event if recorder.content is not None else None,
        )

        async def close_unsent() -> None:  # the relay never ran: nobody received anything
            await source.aclose(client_gone=True)

        settlement.on_exit(close_unsent)
        relayed: RelaySource = source
        if applied is not None and guarded:
            guard = AnswerGuard(resources.privacy.analysis, applied)
            relayed = GuardedStream(source, guard, applied.mapping)
        headers = {**served_by_headers(engine), **admission.headers, **privacy_headers, **marker}
        headers["x-sovereign-overhead-ms"] = _overhead(started, sent, time.perf_counter())
        return RelayResponse(relayed, headers)
    sent = time.perf_counter()
    try:
        answer = await forwarder.call(principal.tenant, candidates, path, body, request_id, ctx)
    except GatewayError as exc:
        await recorder.record(None, "failed", exc.status, None)
        raise
    received = time.perf_counter()
    ok = answer.status < 400
    status, media_type = answer.status, answer.content_type

    async def meter() -> None:
        usage = usage_of_body(answer.body) if ok else None
        await recorder.record(answer.engine, "ok" if ok else "failed", answer.status, usage)

    settlement.on_exit(meter)  # the engine answered: its usage is metered however we end
    answer_body = answer.body
    if ok and applied is not None:
        try:
            answer_body = await filter_body(resources.privacy.analysis, applied, answer.body)
        except GatewayError as exc:  # withheld: an error to the client, still metered
            answer_body, status, media_type = render_json(exc), exc.status, "application/json"
        privacy_headers = applied.headers()

    if ok and recorder.content is not None:
        recorder.content.answer_body(answer.body)

    headers = {
        **served_by_headers(answer.engine),
        **admission.headers,
        **privacy_headers,
        **marker,
    }
    headers["x-sovereign-overhead-ms"] = _overhead(started, sent, received)
    return MeteredResponse(
        answer_body, status_code=status, media_type=media_type, headers=headers, meter=meter
    )
