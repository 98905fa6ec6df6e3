"""Which message an error page shows: a pure choice from the error's class and code.

Routes raise from gateway/errors.py's tree, as the API does; web.py renders the page. The
visitor reads a message in the page's language (``error.<reason>.title`` / ``.text`` in the
catalogues), chosen here; the backend's own message, always English, is only a folded
technical detail under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.errors import (
    AuthenticationFailed,
    Conflict,
    GatewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
)

# Codes with a message of their own (the console's sign-in and form checks).
_BY_CODE: Final[dict[str, str]] = {
    "no_session": "session_expired",  # a form sent after the session ended
    "csrf_failed": "form_expired",  # a form from an older session, or from another site
    "bad_state": "sign_in_expired",  # a sign-in begun elsewhere, expired, or replayed
    "no_role": "no_role",  # signed in at the IdP, but no role here
}
# The rest by class, most specific first (InvalidRequest's subclasses are all bad input).
_BY_CLASS: Final[tuple[tuple[type[GatewayError], str], ...]] = (
    (NotFound, "not_found"),
    (PermissionDenied, "forbidden"),
    (AuthenticationFailed, "sign_in"),
    (Conflict, "conflict"),
    (InvalidRequest, "bad_input"),
)
REASONS: Final[tuple[str, ...]] = (
    *dict.fromkeys([*_BY_CODE.values(), *(r for _, r in _BY_CLASS)]),
    "unavailable",
    "error",
)
# The page body's data-testid, by status (the contract's: forbidden, not-found, error-page).
_TESTIDS: Final[dict[int, str]] = {403: "forbidden", 404: "not-found"}


@dataclass(frozen=True, slots=True)
class ErrorView:
    reason: str  # the message keys error.<reason>.title and .text; data-reason on the page
    testid: str
    status: int
    field: str | None  # the form or query field at fault, as the form names it
    detail: str  # the backend's message (English), shown folded


def error_view(error: GatewayError) -> ErrorView:
    reason = _BY_CODE.get(error.code or "")
    if reason is None:
        found = (r for cls, r in _BY_CLASS if isinstance(error, cls))
        fallback = "unavailable" if error.status_code == 503 else "error"
        reason = next(found, fallback)
    testid = _TESTIDS.get(error.status_code, "error-page")
    return ErrorView(reason, testid, error.status_code, error.param, error.message)
