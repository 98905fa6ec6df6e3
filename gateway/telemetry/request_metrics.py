"""Per-request Prometheus metrics, observed once per request from its UsageRecord.

Labels stay bounded: tenant ids come from the directory (a record exists only for an
authenticated request), model names from configuration (any other name a client sends is
counted as ``other``, see labels.py), endpoints are five, status classes seven. Never key ids,
request ids or anything a client can choose freely.

The metrics live in the default registry, next to gateway/metrics.py and the routing metrics,
and are served by metrics_server.py on their own port.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from prometheus_client import Counter, Histogram

from gateway.core.usage import UsageRecord
from gateway.telemetry.labels import model_label

# LLM latencies run from a few milliseconds (an embedding, a cached refusal) to minutes (a
# long generation), so the buckets are roughly logarithmic from 5 ms to 120 s.
DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
)  # fmt: skip
# Time to first token: prefill of a long prompt under load takes seconds, not minutes.
TTFT_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip

REQUESTS = Counter(
    "sovereign_requests_total",
    "Metered requests by tenant, endpoint, model and status class (1xx..5xx, or aborted when "
    "the client left; a stream that failed after its 200 counts as 5xx).",
    ["tenant", "endpoint", "model", "status_class"],
)
DURATION = Histogram(
    "sovereign_request_duration_seconds",
    "Request duration in the gateway, from arrival to the last byte, by endpoint and model.",
    ["endpoint", "model"],
    buckets=DURATION_BUCKETS,
)
TTFT = Histogram(
    "sovereign_time_to_first_token_seconds",
    "Time from a streamed request's arrival to its first token, by model.",
    ["model"],
    buckets=TTFT_BUCKETS,
)
TOKENS = Counter(
    "sovereign_tokens_total",
    "Tokens metered by tenant, model and kind (prompt, completion).",
    ["tenant", "model", "kind"],
)


def status_class(record: UsageRecord) -> str:
    """The request's outcome for dashboards: what the client saw, or what went wrong after.

    A stream that failed after its 200 was sent is a server failure (5xx); one the client left
    is ``aborted``, neither success nor error.
    """
    if record.status == "aborted":
        return "aborted"
    if record.status == "failed" and record.http_status < 400:
        return "5xx"
    return f"{record.http_status // 100}xx"


def observe(record: UsageRecord, models: Collection[str]) -> None:
    """Count one finished request: a handful of label look-ups and increments. ``models``:
    the served model names (any other becomes ``other``)."""
    tenant, model = record.tenant, model_label(record.model, models)
    REQUESTS.labels(tenant, record.endpoint, model, status_class(record)).inc()
    DURATION.labels(record.endpoint, model).observe(record.duration_ms / 1000)
    if record.ttft_ms is not None:
        TTFT.labels(model).observe(record.ttft_ms / 1000)
    if record.prompt_tokens:
        TOKENS.labels(tenant, model, "prompt").inc(record.prompt_tokens)
    if record.completion_tokens:
        TOKENS.labels(tenant, model, "completion").inc(record.completion_tokens)
