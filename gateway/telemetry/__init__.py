"""Traces and Prometheus metrics of the gateway: counts, timings and routing facts, no content.

::

    tracing.py           the tracer provider (OTLP/HTTP, in-memory, or off) and one CLIENT span
                         per inference request with the GenAI semantic-convention attributes
    request_metrics.py   per-request counters and histograms, observed from the UsageRecord
    metrics_server.py    the default registry served as GET /metrics on its own port
    residency.py         every sink's declared jurisdiction, checked before the start
    hub.py               Observability: span, metrics, log line and audit record per request,
                         recorded in batches off the request's path
    logs.py              JSON request logs, facts and counts only
    content_log.py       the masked content log (policies with log_content), with retention
    labels.py            metric labels only from configuration ("other" for anything else)

Tracing and metrics read no settings and no environment, and never touch OpenTelemetry's
global provider: the lifespan builds the provider and the metrics server from the settings and
hands them down. This package's ``__init__`` imports nothing, so importing the metrics does not pull
in the tracing SDK or the HTTP server.
"""
