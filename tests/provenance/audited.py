"""The provenance token a request's audit record keeps (the file audit sink), read back."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from gateway.audit.file import FILE_NAME


def audited_token(audit_dir: Path, request_id: str, wait: float = 5.0) -> str | None:
    """The token in the audit record of ``request_id``, waiting up to ``wait`` seconds for
    the record to be flushed; fails if no record of the request appears."""
    path = audit_dir / FILE_NAME
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_bytes().splitlines():
                body = orjson.loads(line).get("body") or {}
                if body.get("request_id") == request_id:
                    token: str | None = body.get("provenance")
                    return token
        time.sleep(0.05)
    raise AssertionError(f"no audit record of the request {request_id}")
