"""What the fuzz suite holds every answer to, and what it checks was left behind."""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis

# 5xx an engine causes (it failed, timed out, or every allowed one is busy or down); anything
# else at 500 and above is the gateway's own fault.
ENGINE_CAUSED = frozenset(
    {"upstream_error", "upstream_timeout", "no_engine_available", "engines_saturated"}
)


def problems_with(status: int, body: bytes, content_type: str, path: str = "") -> list[str]:
    """Why an answer breaks the contract: a 5xx the gateway caused, or an error that is not
    an OpenAI-style error object (Anthropic's on ``/v1/messages``). Empty when it is fine."""
    found: list[str] = []
    error: Any = None
    if status >= 400:
        if not content_type.startswith("application/json"):
            return [f"{status} with content type {content_type!r}"]
        try:
            document = orjson.loads(body)
            error = document.get("error")
        except (orjson.JSONDecodeError, AttributeError):
            return [f"{status} whose body is not a JSON object: {body[:200]!r}"]
        anthropic = path.startswith("/v1/messages")
        wanted = {"message", "type"} if anthropic else {"message", "type", "param", "code"}
        if anthropic and document.get("type") != "error":
            found.append(f"{status} without Anthropic's error envelope: {body[:200]!r}")
        elif not isinstance(error, dict) or not wanted <= set(error):
            found.append(f"{status} without an OpenAI error object: {body[:200]!r}")
        elif not isinstance(error["message"], str) or not error["message"]:
            found.append(f"{status} with an empty message")
    if status >= 500:
        code = error.get("code") if isinstance(error, dict) else None
        if code not in ENGINE_CAUSED:
            found.append(f"gateway-caused {status}: {body[:300]!r}")
    return found


def leftovers(redis_url: str, wait_s: float = 10.0) -> dict[str, int]:
    """Leases and pending admissions still held once every request has ended (metering runs
    just after an answer is sent: waits up to ``wait_s`` for it). Empty when nothing leaked."""
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            held: dict[str, int] = {}
            for key in client.scan_iter(match="sg:{*}:q:*:lease", _type="zset"):
                if count := int(client.zcard(key)):
                    held[key.decode()] = count
            for key in client.scan_iter(match="sg:{*}:pending", _type="hash"):
                if count := int(client.hlen(key)):
                    held[key.decode()] = count
            if not held or time.monotonic() > deadline:
                return held
            time.sleep(0.2)
    finally:
        client.close()
