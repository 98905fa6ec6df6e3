"""The gateway's one exception tree, and the one place errors become OpenAI error JSON (or,
on Anthropic's ``/v1/messages``, Anthropic's: ``anthropic_body``).

::

    GatewayError                      500 api_error
    ├── InvalidRequest                400 invalid_request_error
    │   ├── PayloadTooLarge           413 invalid_request_error / payload_too_large
    │   ├── HeaderFieldsTooLarge      431 invalid_request_error / header_fields_too_large
    │   ├── RequestTimeout            408 invalid_request_error / request_timeout (head stalled)
    │   ├── MethodNotAllowed          405 invalid_request_error / method_not_allowed
    │   ├── PolicyBlocked             400 invalid_request_error / pii_blocked (types, no values)
    │   ├── UnanalysableInput         400 invalid_request_error / unanalysable_input
    │   └── AnalysisLimitExceeded     400 invalid_request_error / analysis_limit_exceeded
    ├── AuthenticationFailed          401 authentication_error / invalid_api_key
    ├── PermissionDenied              403 permission_denied
    │   ├── ResidencyViolation        403 permission_denied / residency_violation
    │   └── NoPoolForDataClass        403 permission_denied / no_pool_for_data_class
    ├── NotFound                      404 not_found_error
    │   └── ModelNotFound             404 invalid_request_error / model_not_found
    ├── Conflict                      409 invalid_request_error / conflict
    ├── RateLimited                   429 rate_limit_error / rate_limit_exceeded (+ Retry-After)
    │   └── QuotaExceeded             429 insufficient_quota (monthly budget spent)
    ├── QuotaStoreUnavailable         503 api_error / quota_store_unavailable (fail-closed)
    ├── PolicyUnavailable             503 api_error / policy_unavailable (analyzer or vault)
    ├── BatchStoreUnavailable         503 api_error / batch_store_unavailable (files, batches)
    ├── LedgerUnavailable             503 api_error / ledger_unavailable (the usage ledger)
    ├── UpstreamError                 502 api_error / upstream_error (also: a redirect, never
    │   │                             followed, or another status an engine must not answer)
    │   ├── UpstreamStatusError       the engine's own 4xx, passed through as sent; 5xx: 502
    │   ├── UpstreamInvalidResponse   502 api_error / upstream_invalid_response (not JSON, not SSE)
    │   ├── UpstreamTimeout           504 api_error / upstream_timeout
    │   ├── NoEngineAvailable         503 api_error / no_engine_available (+ Retry-After)
    │   └── EnginesSaturated          503 api_error / engines_saturated (queue deadline passed)
    └── (anything else)               500 api_error / internal_error, message hidden

The status codes are the ones the openai SDK maps to its exceptions (400 BadRequestError,
401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError, 429 RateLimitError,
>=500 InternalServerError). Foreign exceptions (httpx, pydantic) are translated into this tree
at the boundary where they occur, with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import orjson


class GatewayError(Exception):
    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def status(self) -> int:
        return self.status_code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.error_type, self.param, self.code)


class InvalidRequest(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"
    default_code: ClassVar[str | None] = None


class PayloadTooLarge(InvalidRequest):
    status_code = 413
    default_code = "payload_too_large"


class HeaderFieldsTooLarge(InvalidRequest):
    """Too many request headers, or too many bytes of them (the server's own limits)."""

    status_code = 431
    default_code = "header_fields_too_large"


class RequestTimeout(InvalidRequest):
    """The request head did not arrive in time (the server's header read timeout)."""

    status_code = 408
    default_code = "request_timeout"


class MethodNotAllowed(InvalidRequest):
    status_code = 405
    default_code = "method_not_allowed"


class PolicyBlocked(InvalidRequest):
    """The tenant's policy blocks what the text contains; the message names types only."""

    default_code = "pii_blocked"


class UnanalysableInput(InvalidRequest):
    default_code = "unanalysable_input"


class AnalysisLimitExceeded(InvalidRequest):
    """More text than the privacy analysis takes per request (``privacy.max_analysed_*``);
    refused before any analysis or admission, so nothing is charged. Names the limit, the
    request's size and, as ``param``, the field."""

    default_code = "analysis_limit_exceeded"


# Why an authentication failed: a bounded set, for the failure counter and log, never shown.
# The first four are API keys'; the rest bearer JWTs' (gateway/identity/tokens.py).
AuthFailureReason = Literal[
    "missing",
    "malformed",
    "unknown_key",
    "expired",
    "token_too_long",
    "token_malformed",
    "algorithm_refused",
    "unknown_issuer",
    "unknown_kid",
    "bad_signature",
    "token_expired",
    "not_yet_valid",
    "wrong_audience",
    "wrong_issuer",
    "missing_claim",
    "nonce_mismatch",
    "idp_unreachable",
    "tenant_refused",
]


class AuthenticationFailed(GatewayError):
    status_code = 401
    error_type = "authentication_error"
    default_code = "invalid_api_key"

    def __init__(
        self,
        message: str,
        *,
        reason: AuthFailureReason = "unknown_key",
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.reason: AuthFailureReason = reason


class PermissionDenied(GatewayError):
    status_code = 403
    error_type = "permission_denied"
    default_code: ClassVar[str | None] = None


class ResidencyViolation(PermissionDenied):
    default_code = "residency_violation"


class NoPoolForDataClass(PermissionDenied):
    default_code = "no_pool_for_data_class"


class NotFound(GatewayError):
    status_code = 404
    error_type = "not_found_error"
    default_code: ClassVar[str | None] = None


class ModelNotFound(NotFound):
    error_type = "invalid_request_error"
    default_code = "model_not_found"


class Conflict(GatewayError):
    status_code = 409
    error_type = "invalid_request_error"
    default_code = "conflict"


class RateLimited(GatewayError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class QuotaExceeded(RateLimited):
    error_type = "insufficient_quota"
    default_code = "insufficient_quota"


class QuotaStoreUnavailable(GatewayError):
    status_code = 503
    default_code = "quota_store_unavailable"


class PolicyUnavailable(GatewayError):
    status_code = 503
    default_code = "policy_unavailable"


class BatchStoreUnavailable(GatewayError):
    status_code = 503
    default_code = "batch_store_unavailable"


class LedgerUnavailable(GatewayError):
    status_code = 503
    default_code = "ledger_unavailable"


class UpstreamError(GatewayError):
    status_code = 502
    default_code = "upstream_error"


class UpstreamStatusError(UpstreamError):
    """The engine answered with an error status: 4xx pass through, 5xx become 502. The body
    carries ``code`` as the engine sent it (vLLM: the status, an int); ``self.code`` is its
    text, for records and labels."""

    def __init__(
        self,
        upstream_status: int,
        message: str,
        *,
        error_type: str | None = None,
        param: str | None = None,
        code: str | int | None = None,
    ) -> None:
        super().__init__(message, param=param, code=None if code is None else str(code))
        self.upstream_status = upstream_status
        self._type = error_type
        self._code = code

    @property
    def status(self) -> int:
        return self.upstream_status if 400 <= self.upstream_status < 500 else 502

    def body(self) -> dict[str, Any]:
        default_type = "invalid_request_error" if self.status < 500 else "api_error"
        return error_body(self.message, self._type or default_type, self.param, self._code)


class UpstreamInvalidResponse(UpstreamError):
    """A success status, but a body the endpoint does not speak: not a JSON object, not an
    OpenAI event stream. Never relayed: a policy could not have read it."""

    default_code = "upstream_invalid_response"


class UpstreamTimeout(UpstreamError):
    status_code = 504
    default_code = "upstream_timeout"


class NoEngineAvailable(UpstreamError):
    status_code = 503
    default_code = "no_engine_available"


class EnginesSaturated(UpstreamError):
    """Every allowed engine was at its concurrency cap until the request's deadline."""

    status_code = 503
    default_code = "engines_saturated"


def error_body(
    message: str, error_type: str, param: str | None = None, code: str | int | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def as_gateway_error(exc: BaseException) -> GatewayError:
    """Anything that is not ours becomes a generic 500 whose message reveals nothing."""
    if isinstance(exc, GatewayError):
        return exc
    return GatewayError("The gateway failed to process the request.")


# The API a route speaks, and so the shape of its errors: OpenAI's, or Anthropic's on
# ``/v1/messages`` (``{"type": "error", "error": {"type", "message"}}``, the types its SDK
# documents per status; the statuses are the same, so its SDK raises the matching exception).
Api = Literal["openai", "anthropic"]
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def anthropic_body(exc: GatewayError) -> dict[str, Any]:
    """The error as Anthropic's API writes it. An engine's own 4xx keeps its type and message
    (vLLM's Anthropic route writes this shape already); our code, if any, is kept as ``code``
    (an extension: it tells ``pii_blocked`` from other 400s)."""
    status = exc.status
    sent = exc._type if isinstance(exc, UpstreamStatusError) and status < 500 else None
    fallback = "invalid_request_error" if status < 500 else "api_error"
    kind = sent or _ANTHROPIC_TYPES.get(status, fallback)
    error: dict[str, Any] = {"type": kind, "message": exc.message}
    code = exc.body()["error"].get("code")
    if code is not None and not isinstance(exc, UpstreamStatusError):
        error["code"] = code
    return {"type": "error", "error": error}


def render_json(exc: GatewayError, api: Api = "openai") -> bytes:
    return orjson.dumps(anthropic_body(exc) if api == "anthropic" else exc.body())


def render_sse(exc: GatewayError, api: Api = "openai") -> bytes:
    """An error after the stream has started: one in-band event the SDK raises on (Anthropic's
    SDK reads the ``error`` event)."""
    if api == "anthropic":
        return b"event: error\ndata: " + orjson.dumps(anthropic_body(exc)) + b"\n\n"
    return b"data: " + orjson.dumps(exc.body()) + b"\n\n"
