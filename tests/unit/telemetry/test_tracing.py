"""Request spans, read back from the in-memory exporter (and once from a real OTLP receiver)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, Tracer

from gateway.telemetry.tracing import (
    build_tracer_provider,
    finish_request_span,
    request_parameters,
    start_request_span,
    traces_url,
)
from tests.records import usage_record

STARTED_AT = 1_760_000_000.0


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Iterator[Tracer]:
    provider = build_tracer_provider(service_name="gw-test", endpoint=None, exporter=exporter)
    yield provider.get_tracer("test")
    provider.shutdown()


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


def traced(tracer: Tracer, exporter: InMemorySpanExporter, **record: Any) -> ReadableSpan:
    """One request's span, opened and finished from a record with ``record`` overrides."""
    usage = usage_record("acme-de", "req-1", started_at=STARTED_AT, **record)
    span = start_request_span(
        tracer,
        operation=usage.endpoint,
        model=usage.model,
        request_id="req-1",
        tenant="acme-de",
        started_at=STARTED_AT,
    )
    finish_request_span(span, usage)
    return only_span(exporter)


def test_a_streamed_chat_span_has_the_genai_attributes_and_nothing_else(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    span = start_request_span(
        tracer,
        operation="chat.completions",
        model="smollm2",
        request_id="req-1",
        tenant="acme-de",
        payload={"max_tokens": 64, "temperature": 0.2, "messages": [], "stream": True},
        started_at=STARTED_AT,
    )
    record = usage_record(
        "acme-de",
        "req-1",
        started_at=STARTED_AT,
        stream=True,
        ttft_ms=42.0,
        policy="gdpr-strict@3",
        policy_mode="enforce",
    )
    finish_request_span(span, record, finish_reasons=["stop"])

    finished = only_span(exporter)
    assert finished.name == "chat smollm2"
    assert finished.kind is SpanKind.CLIENT
    assert finished.status.status_code is StatusCode.UNSET
    assert finished.start_time == int(STARTED_AT * 1e9)
    assert finished.resource.attributes["service.name"] == "gw-test"
    assert dict(finished.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "vllm",
        "gen_ai.provider.name": "vllm",
        "gen_ai.request.model": "smollm2",
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.response.model": "smollm2",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 20,
        "gen_ai.usage.output_tokens": 10,
        "gen_ai.server.time_to_first_token": pytest.approx(0.042),
        "server.address": "de-1.engine",
        "server.port": 8000,
        "http.response.status_code": 200,
        "sovereign.request_id": "req-1",
        "sovereign.tenant": "acme-de",
        "sovereign.pool": "de-muc-b200",
        "sovereign.site": "de-muc-1",
        "sovereign.jurisdiction": "DE",
        "sovereign.policy": "gdpr-strict@3",
        "sovereign.policy.mode": "enforce",
        "sovereign.status": "ok",
        "sovereign.usage_source": "engine",
        "sovereign.stream": True,
    }
    (event,) = finished.events
    assert event.name == "gen_ai.first_token"
    assert event.timestamp == int((STARTED_AT + 0.042) * 1e9)


@pytest.mark.parametrize(
    ("endpoint", "name"),
    [
        ("completions", "text_completion smollm2"),
        ("embeddings", "embeddings smollm2"),
        ("chat", "chat smollm2"),  # a GenAI operation name passes as it is
    ],
)
def test_span_names_follow_the_genai_operations(
    tracer: Tracer, exporter: InMemorySpanExporter, endpoint: str, name: str
) -> None:
    finished = traced(tracer, exporter, endpoint=endpoint, ttft_ms=None)
    assert finished.name == name
    assert finished.attributes is not None
    assert finished.attributes["gen_ai.operation.name"] == name.split()[0]
    # No stream, no first token: neither the attribute nor the event.
    assert "gen_ai.server.time_to_first_token" not in finished.attributes
    assert finished.events == ()


@pytest.mark.parametrize(
    ("record", "error_type"),
    [
        ({"status": "failed", "http_status": 200}, "upstream_error"),  # broke after its 200
        ({"status": "failed", "http_status": 400}, "400"),  # the engine's own 4xx
        ({"status": "failed", "http_status": 502, "engine": ""}, "502"),  # no engine answered
    ],
)
def test_a_failed_request_is_an_error_span_typed_by_its_code(
    tracer: Tracer, exporter: InMemorySpanExporter, record: dict[str, Any], error_type: str
) -> None:
    finished = traced(tracer, exporter, **record)
    assert finished.status.status_code is StatusCode.ERROR
    assert finished.status.description is None  # a message may quote the request
    assert finished.attributes is not None
    assert finished.attributes["error.type"] == error_type


def test_the_callers_openai_error_code_wins(tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    span = start_request_span(
        tracer, operation="chat.completions", model="smollm2", request_id="r", tenant="t"
    )
    finish_request_span(
        span,
        usage_record("t", "r", status="failed", http_status=504),
        error_type="upstream_timeout",
    )
    finished = only_span(exporter)
    assert finished.status.status_code is StatusCode.ERROR
    assert finished.attributes is not None
    assert finished.attributes["error.type"] == "upstream_timeout"


def test_a_request_refused_before_any_record_ends_as_an_error(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    span = start_request_span(
        tracer, operation="embeddings", model="e5", request_id="req-2", tenant="acme-de"
    )
    finish_request_span(span, error_type="rate_limit_exceeded")
    finished = only_span(exporter)
    assert finished.status.status_code is StatusCode.ERROR
    assert dict(finished.attributes or {}) == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.system": "vllm",
        "gen_ai.provider.name": "vllm",
        "gen_ai.request.model": "e5",
        "sovereign.request_id": "req-2",
        "sovereign.tenant": "acme-de",
        "error.type": "rate_limit_exceeded",
    }


def test_a_client_that_left_is_not_an_error(tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    finished = traced(tracer, exporter, status="aborted", stream=True)
    assert finished.status.status_code is StatusCode.UNSET
    assert finished.attributes is not None
    assert finished.attributes["sovereign.status"] == "aborted"
    assert "error.type" not in finished.attributes


PII = (
    "Max Mustermann",
    "max.mustermann@example.de",
    "DE89370400440532013000",
    "+49 170 1234567",
    "Musterstraße 12",
    "user-4711-mustermann",
    "Kündigung wegen Krankheit",
)


def test_no_request_content_reaches_the_span(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    payload = {
        "model": "smollm2",
        "messages": [
            {"role": "system", "content": f"Kunde: {PII[0]}, {PII[4]}"},
            {"role": "user", "content": f"Mail {PII[1]}, IBAN {PII[2]}, Tel. {PII[3]}: {PII[6]}"},
        ],
        "user": PII[5],
        "stop": [PII[0]],
        "metadata": {"customer": PII[1]},
        "max_tokens": 32,
        "logit_bias": {"1234": 5},
        "response_format": {"type": "json_schema", "json_schema": {"name": PII[0]}},
    }
    span = start_request_span(
        tracer,
        operation="chat.completions",
        model="smollm2",
        request_id="req-pii",
        tenant="acme-de",
        payload=payload,
    )
    record = usage_record(
        "acme-de",
        "req-pii",
        policy="gdpr-strict@3",
        policy_mode="enforce",
        pii="prompt:PERSON:pseudonymize=2,prompt:IBAN_CODE:mask=1",
    )
    finish_request_span(span, record, finish_reasons=["stop"])

    finished = only_span(exporter)
    texts = [finished.name, str(finished.status.description)]
    texts += [str(value) for value in (finished.attributes or {}).values()]
    texts += [str(value) for value in finished.resource.attributes.values()]
    for event in finished.events:
        texts.append(event.name)
        texts += [str(value) for value in (event.attributes or {}).values()]
    everything = "\n".join(texts).casefold()
    for value in PII:
        assert value.casefold() not in everything
    for word in ("mustermann", "4711", "1234567", "iban"):
        assert word not in everything
    keys = " ".join(finished.attributes or {})
    for content_key in ("prompt", "completion", "content", "message", "user", "pii"):
        assert content_key not in keys


def test_only_numeric_request_parameters_are_kept() -> None:
    assert request_parameters(
        {"max_tokens": True, "temperature": "0.2", "top_p": 0.9, "n": 2, "seed": None}
    ) == {"gen_ai.request.top_p": 0.9, "gen_ai.request.choice.count": 2}


def test_without_exporter_or_endpoint_spans_record_nothing() -> None:
    provider = build_tracer_provider(service_name="gw", endpoint=None)
    span = start_request_span(
        provider.get_tracer("test"),
        operation="chat.completions",
        model="smollm2",
        request_id="r",
        tenant="t",
    )
    assert not span.is_recording()
    finish_request_span(span, usage_record("t", "r"))  # cheap, and no error
    provider.shutdown()


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://otel.intern:4318", "http://otel.intern:4318/v1/traces"),
        ("http://otel.intern:4318/", "http://otel.intern:4318/v1/traces"),
        ("https://otel.intern/v1/traces", "https://otel.intern/v1/traces"),
    ],
)
def test_the_traces_url_of_an_otlp_endpoint(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that keeps what it is sent."""

    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_spans_are_exported_over_otlp_http_to_the_endpoint() -> None:
    received: list[tuple[str, bytes]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        provider = build_tracer_provider(service_name="gw-otlp", endpoint=endpoint)
        span = start_request_span(
            provider.get_tracer("test"),
            operation="chat.completions",
            model="smollm2",
            request_id="req-otlp",
            tenant="acme-de",
        )
        finish_request_span(span, usage_record("acme-de", "req-otlp"))
        assert provider.force_flush()
        provider.shutdown()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    ((path, body),) = received
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "gw-otlp"
    (span_proto,) = resource_spans.scope_spans[0].spans
    assert span_proto.name == "chat smollm2"
    attributes = {a.key: a.value for a in span_proto.attributes}
    assert attributes["sovereign.request_id"].string_value == "req-otlp"
    assert attributes["gen_ai.usage.output_tokens"].int_value == 10
