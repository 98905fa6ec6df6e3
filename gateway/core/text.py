"""A client's free strings, bounded before they reach logs, traces or the audit trail."""

from __future__ import annotations

MAX_CLIENT_STRING = 64  # characters of a client's string kept in logs, traces and audit


def capped(text: str, limit: int = MAX_CLIENT_STRING) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
