"""A batch's input file, read: pure checks of an upload and of a batch's request lines.

At upload (400, nothing stored): UTF-8, at most ``max_lines`` lines, each a JSON object.
At a batch's creation (OpenAI's ``validating``): each line has a unique ``custom_id``,
``method`` ``POST``, the batch's ``url`` and an object ``body`` without ``stream``; any line
that does not fails the whole batch (``failed`` with ``errors``, as OpenAI does). What a body
holds is the endpoint's business: a line the request path refuses (400, 404, ...) ends in the
error file with the status and error it got, the others still run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.batches.models import LineError
from gateway.errors import InvalidRequest

MAX_ERRORS = 100  # a batch's errors.data shows at most this many


@dataclass(frozen=True, slots=True)
class BatchLine:
    index: int  # 0-based position among the file's non-blank lines
    custom_id: str
    body: dict[str, Any]


def _objects(content: bytes) -> list[tuple[int, Any]]:
    """(1-based line number, parsed JSON or the exception) of every non-blank line."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The file is not UTF-8 text.", param="file") from None
    parsed: list[tuple[int, Any]] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            parsed.append((number, orjson.loads(raw)))
        except orjson.JSONDecodeError as exc:
            parsed.append((number, exc))
    return parsed


def check_upload(content: bytes, max_lines: int) -> list[dict[str, Any]]:
    """The file's lines as JSON objects; 400 naming the first line that is not one."""
    parsed = _objects(content)
    if not parsed:
        raise InvalidRequest("The file has no lines: a batch file is JSONL.", param="file")
    if len(parsed) > max_lines:
        raise InvalidRequest(
            f"The file has {len(parsed)} lines, more than the limit of {max_lines}.",
            param="file",
            code="too_many_lines",
        )
    lines: list[dict[str, Any]] = []
    for number, value in parsed:
        if not isinstance(value, dict):
            raise InvalidRequest(
                f"Line {number} is not a JSON object: a batch file is JSONL, one request "
                "object per line.",
                param="file",
                code="invalid_jsonl",
            )
        lines.append(value)
    return lines


def subjects_of(lines: list[dict[str, Any]]) -> set[str]:
    """The data subjects named by the lines (their bodies' OpenAI ``user`` field)."""
    found: set[str] = set()
    for line in lines:
        body = line.get("body")
        user = body.get("user") if isinstance(body, dict) else None
        if isinstance(user, str) and user:
            found.add(user)
    return found


def parse_requests(content: bytes, url: str) -> tuple[list[BatchLine], list[LineError]]:
    """The batch's requests, or the errors that fail it (at most ``MAX_ERRORS``)."""
    lines: list[BatchLine] = []
    errors: list[LineError] = []
    seen: set[str] = set()
    for index, (number, value) in enumerate(_objects(content)):
        error = _line_error(value, url, seen)
        if error is not None:
            code, message, param = error
            errors.append(LineError(code=code, message=message, line=number, param=param))
            continue
        seen.add(value["custom_id"])
        lines.append(BatchLine(index, value["custom_id"], value["body"]))
    if not lines and not errors:
        errors.append(LineError(code="empty_file", message="The input file has no requests."))
    return lines, errors[:MAX_ERRORS]


def _line_error(value: Any, url: str, seen: set[str]) -> tuple[str, str, str | None] | None:
    if isinstance(value, Exception) or not isinstance(value, dict):
        return "invalid_json_line", "This line is not a JSON object.", None
    custom_id = value.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return "missing_required_parameter", "custom_id must be a non-empty string.", "custom_id"
    if custom_id in seen:
        return "duplicate_custom_id", f"The custom_id {custom_id!r} is used twice.", "custom_id"
    if value.get("method") != "POST":
        return "invalid_method", "method must be POST.", "method"
    if value.get("url") != url:
        return (
            "mismatched_url",
            f"url must be the batch's endpoint, {url}.",
            "url",
        )
    body = value.get("body")
    if not isinstance(body, dict):
        return "missing_required_parameter", "body must be a JSON object.", "body"
    if body.get("stream"):
        return "invalid_value", "Streaming is not supported in batches.", "body.stream"
    extra = set(value) - {"custom_id", "method", "url", "body"}
    if extra:
        return "invalid_request", f"Unknown fields: {', '.join(sorted(extra))}.", None
    return None
