"""Translate what the engine says (error statuses and bodies) into the gateway's tree.

An engine's error fields reach the client as the engine sent them: its message, type and
``code`` (vLLM sends the HTTP status there, an int; it stays an int). Three body shapes are
read: vLLM's ``{"error": {...}}``, its older flat ``{"object": "error", ...}``, and FastAPI's
``{"detail": ...}`` (an engine's own 404 for a path or model it does not serve, and its 422s).
Only what the gateway itself decides is its own: an engine's 5xx is our 502 (code
``upstream_error``), and a body that is no error object gets our message and that code.
One part of a message is dropped: the list of every model an engine serves that vLLM appends
to its 404 (``Valid aliases: ...``), the deployment's models and not the tenant's.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.errors import UpstreamStatusError

OURS = "upstream_error"
# vLLM 0.32 (``serve/engine/serving.py``): "The model `x` does not exist. Valid aliases: a, b."
_SERVED_MODELS = re.compile(r"\s*Valid aliases:.*\Z", re.DOTALL)


def from_engine_response(status: int, body: bytes) -> UpstreamStatusError:
    payload: Any = None
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    message: str | None = None
    error_type: str | None = None
    param: str | None = None
    code: str | int | None = OURS
    if isinstance(payload, dict):
        nested = payload.get("error")
        detail: dict[str, Any] = nested if isinstance(nested, dict) else payload
        sent = detail.get("message")
        message = sent if isinstance(sent, str) and sent else _detail(payload.get("detail"))
        if isinstance(nested, dict) or message is not None:  # an error object: as sent
            error_type = _scalar_text(detail.get("type"))
            param = _scalar_text(detail.get("param"))
            code = _code(detail.get("code"))
    if status >= 500:
        # Our own status is 502 whatever the engine said; keep its message, not its type.
        error_type, code = "api_error", OURS
        message = message or f"The engine failed with HTTP {status}."
    message = _SERVED_MODELS.sub("", message or "") or f"The engine answered with HTTP {status}."
    return UpstreamStatusError(status, message, error_type=error_type, param=param, code=code)


def _detail(detail: Any) -> str | None:
    """FastAPI's ``detail``: a string (``HTTPException``), or validation errors (the first
    one's ``msg``)."""
    if isinstance(detail, str):
        return detail or None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0].get("msg")
        return first if isinstance(first, str) and first else None
    return None


def _code(value: object) -> str | int | None:
    """An error code as the engine sent it: a string or an integer (never a bool)."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return None


def _scalar_text(value: object) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    return None
