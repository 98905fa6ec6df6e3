"""Translate what the engine says (error statuses and bodies) into the gateway's tree."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import UpstreamStatusError


def from_engine_response(status: int, body: bytes) -> UpstreamStatusError:
    """vLLM answers ``{"error": {...}}`` (current) or ``{"object": "error", ...}`` (older)."""
    message = f"The engine answered with HTTP {status}."
    error_type: str | None = None
    param: str | None = None
    code: str | None = None
    payload: Any = None
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        nested = payload.get("error")
        detail: dict[str, Any] = nested if isinstance(nested, dict) else payload
        if isinstance(detail.get("message"), str) and detail["message"]:
            message = detail["message"]
        error_type = _str_or_none(detail.get("type"))
        param = _str_or_none(detail.get("param"))
        code = _str_or_none(detail.get("code"))
    elif status >= 500:
        message = f"The engine failed with HTTP {status}."
    if status >= 500:
        # Our own status is 502 whatever the engine said; keep its message, not its type.
        error_type, code = "api_error", "upstream_error"
    return UpstreamStatusError(status, message, error_type=error_type, param=param, code=code)


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    return str(value)
