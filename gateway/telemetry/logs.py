"""Structured logs: JSON lines, one per request, with facts and counts, never content.

Configured once at start-up (``configure_logging``), written to the declared log sink (a file
on a volume in the jurisdiction) or to stdout. A request's line carries ids, routing facts,
status, timings, token counts, and what the GDPR policy found and did (types, actions and
counts); prompt and response text never appear here (``content_log.py`` holds content, for
tenants whose policy asks for it, masked, with retention).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import orjson
import structlog

from gateway.core.usage import UsageRecord
from gateway.settings import Settings

_log = structlog.get_logger("gateway.requests")


def _dumps(data: Any, **_: Any) -> str:
    return orjson.dumps(data).decode()


def configure_logging(settings: Settings) -> TextIO | None:
    """JSON lines to the log sink; returns the opened file (the caller closes it), if any."""
    sink = settings.telemetry.logs
    stream: TextIO = sys.stdout
    opened: TextIO | None = None
    if sink is not None and sink.path is not None:
        sink.path.parent.mkdir(parents=True, exist_ok=True)
        opened = stream = open(sink.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
    return opened


def request_fields(record: UsageRecord) -> dict[str, Any]:
    """The log line of one request: the usage record's facts (it holds no content)."""
    return {
        "request_id": record.request_id,
        "tenant": record.tenant,
        "key_id": record.key_id,
        "endpoint": record.endpoint,
        "model": record.model,
        "pool": record.pool,
        "site": record.site,
        "jurisdiction": record.jurisdiction,
        "engine": record.engine,
        "stream": record.stream,
        "status": record.status,
        "http_status": record.http_status,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "ttft_ms": record.ttft_ms,
        "duration_ms": record.duration_ms,
        "gateway": record.gateway,
        "policy": record.policy,
        "policy_mode": record.policy_mode,
        "pii": record.pii,
    }


def log_request(record: UsageRecord) -> None:
    _log.info("request.completed", **request_fields(record))
