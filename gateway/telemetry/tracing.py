"""One CLIENT span per inference request, named and attributed per the GenAI conventions.

The span carries what a trace backend needs to explain latency and cost (operation, model,
token usage, time to first token, the engine, the tenant and where it ran) and nothing a
request *says*: no prompt, no completion, no ``user`` field, no PII values, not even the
error message (only its OpenAI code). That is a property of the API, not of a filter: the
request body is never handed to the span, only the numeric sampling parameters picked from it
by :func:`request_parameters`, and the end of the request arrives as a
:class:`~gateway.core.usage.UsageRecord`, which holds counts and routing facts only.

Cost on the request path: the span is opened with its few known attributes in one call and
all the rest is set in one ``set_attributes`` call at the end. When tracing is off the
provider samples nothing, so both calls return at once on a non-recording span.

The global OpenTelemetry provider is never read or set: the lifespan builds a provider with
:func:`build_tracer_provider`, takes a tracer from it, passes the tracer down, and calls the
provider's ``shutdown()`` (which flushes the exporter) when it ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Final
from urllib.parse import urlsplit

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from gateway.core.usage import UsageRecord

TRACER_NAME: Final = "sovereign-gateway"
SYSTEM: Final = "vllm"

# The gateway's endpoint names (UsageRecord.endpoint) to GenAI operation names.
_OPERATIONS: Final = {
    "chat.completions": "chat",
    "completions": "text_completion",
    "embeddings": "embeddings",
}
# Request parameters that may go on a span: numbers only, so no request text can slip in.
_PARAMETERS: Final = (
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
    ("seed", "gen_ai.request.seed"),
    ("n", "gen_ai.request.choice.count"),
)
_OTLP_TRACES_PATH: Final = "/v1/traces"


def build_tracer_provider(
    *, service_name: str, endpoint: str | None, exporter: SpanExporter | None = None
) -> TracerProvider:
    """The process's tracer provider; the caller owns it and calls ``shutdown()`` at the end.

    ``exporter`` (tests: ``InMemorySpanExporter``) gets each span as it ends; else an
    ``endpoint`` (an OTLP/HTTP collector's base URL, e.g. ``http://otel.intern:4318``) gets
    them in batches from a background thread, off the request path; with neither, nothing is
    sampled and spans cost next to nothing.
    """
    # Resource.create adds the SDK's own attributes and, as every OTel SDK does, those an
    # operator sets in OTEL_RESOURCE_ATTRIBUTES (deployment.environment, ...); ours win.
    resource = Resource.create({SERVICE_NAME: service_name})
    if exporter is not None:
        provider = TracerProvider(sampler=ALWAYS_ON, resource=resource, shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif endpoint is not None:
        # shutdown_on_exit: a safety net that flushes the last batch if the lifespan did not.
        provider = TracerProvider(sampler=ALWAYS_ON, resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(traces_url(endpoint))))
    else:
        provider = TracerProvider(sampler=ALWAYS_OFF, resource=resource, shutdown_on_exit=False)
    return provider


def traces_url(endpoint: str) -> str:
    """The collector's traces URL: a base URL gets ``/v1/traces``, as the OTLP spec has it."""
    stripped = endpoint.rstrip("/")
    return stripped if stripped.endswith(_OTLP_TRACES_PATH) else stripped + _OTLP_TRACES_PATH


def operation_name(endpoint_or_operation: str) -> str:
    """``chat.completions`` -> ``chat``; a GenAI operation name is returned as it is."""
    return _OPERATIONS.get(endpoint_or_operation, endpoint_or_operation)


def request_parameters(payload: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """The numeric sampling parameters of a request body, as GenAI attributes; never its text."""
    attributes: dict[str, AttributeValue] = {}
    for field, attribute in _PARAMETERS:
        value = payload.get(field)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attributes[attribute] = value
    return attributes


def start_request_span(
    tracer: Tracer,
    *,
    operation: str,
    model: str,
    request_id: str,
    tenant: str,
    payload: Mapping[str, Any] | None = None,
    started_at: float | None = None,
) -> Span:
    """Open the request's span: ``"{operation} {model}"``, kind CLIENT (we call the engine).

    ``operation``: the gateway's endpoint name or the GenAI operation name. ``payload``: the
    request body, read only by :func:`request_parameters`. ``started_at``: the request's start
    in unix seconds (the Recorder's), so the span and the first-token event line up with it.
    The span is not made current; the caller ends it with :func:`finish_request_span`.
    """
    operation = operation_name(operation)
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": operation,
        "gen_ai.system": SYSTEM,
        "gen_ai.provider.name": SYSTEM,
        "gen_ai.request.model": model,
        "sovereign.request_id": request_id,
        "sovereign.tenant": tenant,
    }
    if payload is not None:
        attributes.update(request_parameters(payload))
    return tracer.start_span(
        f"{operation} {model}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        start_time=None if started_at is None else int(started_at * 1e9),
    )


def finish_request_span(
    span: Span,
    record: UsageRecord | None = None,
    *,
    error_type: str | None = None,
    finish_reasons: Sequence[str] | None = None,
    end_time_ns: int | None = None,
) -> None:
    """Set the outcome on the span in one call and end it (at ``end_time_ns``, unix ns, when
    the span is finished after the fact; else now).

    ``record``: the request's ledger record (None when it failed before one was built).
    ``error_type``: the OpenAI error code of a failure (``rate_limit_exceeded``,
    ``upstream_timeout``, ...); a record with status ``failed`` is an error even without one
    (typed by its HTTP status code, or ``upstream_error`` for a stream that broke after 200).
    An aborted request (the client left) is not an error.
    """
    if not span.is_recording():
        span.end(end_time_ns)
        return
    attributes = _outcome_attributes(record, finish_reasons) if record is not None else {}
    if error_type is None and record is not None and record.status == "failed":
        error_type = _failed_error_type(record.http_status)
    if error_type is not None:
        attributes["error.type"] = error_type
    span.set_attributes(attributes)
    if record is not None and record.ttft_ms is not None:
        first_token = record.started_at + record.ttft_ms / 1000
        span.add_event("gen_ai.first_token", timestamp=int(first_token * 1e9))
    if error_type is not None:
        # The code only: an error message may quote the request.
        span.set_status(StatusCode.ERROR)
    span.end(end_time_ns)


def _outcome_attributes(
    record: UsageRecord, finish_reasons: Sequence[str] | None
) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "gen_ai.response.model": record.model,
        "gen_ai.usage.input_tokens": record.prompt_tokens,
        "gen_ai.usage.output_tokens": record.completion_tokens,
        "http.response.status_code": record.http_status,
        "sovereign.status": record.status,
        "sovereign.usage_source": record.usage_source,
        "sovereign.stream": record.stream,
    }
    if finish_reasons:
        attributes["gen_ai.response.finish_reasons"] = tuple(finish_reasons)
    if record.ttft_ms is not None:
        attributes["gen_ai.server.time_to_first_token"] = record.ttft_ms / 1000
    if record.engine:
        address, port = _server(record.engine)
        attributes["server.address"] = address
        if port is not None:
            attributes["server.port"] = port
        attributes["sovereign.pool"] = record.pool
        attributes["sovereign.site"] = record.site
        attributes["sovereign.jurisdiction"] = record.jurisdiction
    if record.policy is not None:
        attributes["sovereign.policy"] = record.policy
        if record.policy_mode is not None:
            attributes["sovereign.policy.mode"] = record.policy_mode
    return attributes


def _failed_error_type(http_status: int) -> str:
    """A failure's type when the caller knows no OpenAI code for it.

    The status code of an error response (as the HTTP conventions do); ``upstream_error`` for
    a stream that failed after its 200.
    """
    return str(http_status) if http_status >= 400 else "upstream_error"


@lru_cache(maxsize=256)
def _server(engine_url: str) -> tuple[str, int | None]:
    """(host, port) of an engine URL; cached, as a deployment has a handful of engines."""
    parts = urlsplit(engine_url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.hostname or engine_url, parts.port if parts.port is not None else default
