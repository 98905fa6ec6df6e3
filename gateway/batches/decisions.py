"""The runner's decisions, pure: what a line's answer means, when to try it again, how a batch
ends, what its result lines and counts are. No I/O, no clock (times are passed in)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Literal

import orjson

from gateway.batches.jsonl_input import BatchLine
from gateway.batches.line import LineAnswer
from gateway.batches.models import LineResult, RequestCounts
from gateway.core.limits import Scope

Verdict = Literal["output", "error", "retry", "stopped"]
# Refusals for the moment: the tenant's limits (429), engines saturated or unavailable (503).
# Tried again later, within the completion window, instead of failing the line.
RETRIED = frozenset({429, 503})
DAY = 86_400.0


def verdict(status: int) -> Verdict:
    if status == 499:
        return "stopped"
    if 200 <= status < 300:
        return "output"
    return "retry" if status in RETRIED else "error"


def retry_delay(attempt: int, retry_after: str | None, base: float, cap: float) -> float:
    """Seconds before the next try: the answer's Retry-After if it gives one, else ``base``
    doubled per attempt; never more than ``cap``."""
    try:
        hinted = float(retry_after) if retry_after is not None else None
    except ValueError:
        hinted = None
    wanted = hinted if hinted is not None and hinted > 0 else base * (2 ** min(attempt, 30))
    return min(wanted, cap)


def batch_share(scopes: Iterable[Scope]) -> int | None:
    """Lines a tenant's batches may have in flight at once on a worker: half the smallest
    concurrency limit of the key's scopes (tenant, key), at least one, so that interactive
    requests keep the other half; None without a concurrency limit."""
    limits = [scope.limits.concurrent for scope in scopes if scope.limits.concurrent]
    return max(1, min(limits) // 2) if limits else None


def delete_after(now: float, tenant_days: int | None, default_days: int) -> float:
    """When retention ends: the gateway's default, or the tenant's if shorter."""
    days = min(tenant_days, default_days) if tenant_days else default_days
    return now + days * DAY


def answered(line: BatchLine, answer: LineAnswer) -> LineResult:
    ok = verdict(answer.status) == "output"
    body = answer.body
    usage = body.get("usage") if ok and isinstance(body, dict) else None
    return LineResult(
        index=line.index,
        ok=ok,
        line={
            "id": "batch_req_" + os.urandom(16).hex(),
            "custom_id": line.custom_id,
            "response": {
                "status_code": answer.status,
                "request_id": answer.request_id,
                "body": body,
            },
            "error": None,
        },
        usage=usage if isinstance(usage, dict) else None,
    )


Unrun = Literal["batch_expired", "batch_cancelled"]
_UNRUN_MESSAGES = {
    "batch_expired": "This request could not be executed before the completion window expired.",
    "batch_cancelled": "This request was not executed: the batch was cancelled.",
}


def not_run(line: BatchLine, code: Unrun) -> LineResult:
    """A line the batch ended without (OpenAI writes expired ones to the error file)."""
    return LineResult(
        index=line.index,
        ok=False,
        line={
            "id": "batch_req_" + os.urandom(16).hex(),
            "custom_id": line.custom_id,
            "response": None,
            "error": {"code": code, "message": _UNRUN_MESSAGES[code]},
        },
    )


def ending(cancelled: bool, pending: int, now: float, expires_at: float) -> str | None:
    """How the batch ends now, or None while it still runs."""
    if cancelled:
        return "cancelled"
    if pending == 0:
        return "completed"
    if now >= expires_at:
        return "expired"
    return None


def counts(total: int, results: Iterable[LineResult]) -> RequestCounts:
    """Completed: lines answered; failed: lines that ran and failed (not those never run)."""
    done = list(results)
    completed = sum(1 for r in done if r.ok)
    failed = sum(1 for r in done if not r.ok and r.line.get("response") is not None)
    return RequestCounts(total=total, completed=completed, failed=failed)


def usage(results: Iterable[LineResult]) -> dict[str, Any]:
    """The batch's token usage, summed over its answered lines (OpenAI's ``BatchUsage``)."""
    prompt = completion = 0
    for result in results:
        u = result.usage or {}
        prompt += int(u.get("prompt_tokens") or u.get("input_tokens") or 0)
        completion += int(u.get("completion_tokens") or u.get("output_tokens") or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def result_file(results: Iterable[LineResult]) -> bytes:
    """A results file: its lines in the input's order, one JSON object each."""
    ordered = sorted(results, key=lambda r: r.index)
    return b"".join(orjson.dumps(r.line) + b"\n" for r in ordered)
