"""Usage records for tests: plausible defaults, any field overridden by keyword."""

from __future__ import annotations

import time
from typing import Any

from gateway.core.usage import UsageRecord

DEFAULTS: dict[str, Any] = {
    "key_id": "k1",
    "endpoint": "chat.completions",
    "model": "smollm2",
    "pool": "de-muc-b200",
    "site": "de-muc-1",
    "jurisdiction": "DE",
    "engine": "http://de-1.engine:8000",
    "stream": False,
    "status": "ok",
    "http_status": 200,
    "prompt_tokens": 20,
    "completion_tokens": 10,
    "usage_source": "engine",
    "estimated_tokens": 100,
    "ttft_ms": 42.0,
    "duration_ms": 250.0,
    "gateway": "gw-test",
}


def usage_record(tenant: str, request_id: str, **fields: Any) -> UsageRecord:
    values = {**DEFAULTS, "started_at": time.time(), **fields}
    return UsageRecord(tenant=tenant, request_id=request_id, **values)
