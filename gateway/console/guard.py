"""The console's browser defences, as pure functions: where a sign-in may return to, whether a
POST is same-origin and carries the session's token, and the headers every answer wears.

- Return paths: only a local path under ``/console`` (never ``//host``, a scheme, a
  backslash, a dot segment or a control character): no open redirect through ``next``.
- CSRF: every state change is a POST with the session's synchronizer token (a hidden form
  field, compared in constant time), and its ``Origin`` (or, without one, ``Sec-Fetch-Site``)
  must be this console's own. GETs change nothing.
- Headers: a strict Content-Security-Policy (``'self'`` only, no inline script or style, no
  framing), ``nosniff``, a referrer only to ourselves (``no-referrer`` would make browsers send
``Origin: null`` on POST), no caching of pages that may show a secret.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from gateway.errors import PermissionDenied

HOME = "/console"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")


def safe_next(value: str | None) -> str:
    """``value`` if it is a local console path, else the console's home."""
    if not value or _UNSAFE.search(value) or len(value) > 2048:
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return HOME
    path = parts.path
    if path != HOME and not path.startswith(HOME + "/"):
        return HOME
    if any(segment in {".", ".."} for segment in path.split("/")):
        return HOME
    if "%" in path:  # an encoded slash or dot could become one of the above later
        return HOME
    return value


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(headers: Mapping[str, str], own_origin: str) -> bool:
    """Is this request from the console's own pages? ``Origin`` decides when sent (every
    current browser sends it on POST); else ``Sec-Fetch-Site``; a client that sends neither
    (not a browser: no ambient cookies to abuse) passes on to the token check."""
    origin = headers.get("origin")
    if origin is not None:
        return origin.lower() == own_origin
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    return True


def forbidden_cross_site() -> PermissionDenied:
    return PermissionDenied("Cross-site request refused.", code="csrf_failed")


def check_post(headers: Mapping[str, str], own_origin: str, sent: str | None, token: str) -> None:
    """Raise ``PermissionDenied`` unless the POST is same-origin and carries ``token``."""
    if not same_origin(headers, own_origin):
        raise forbidden_cross_site()
    if not sent or not hmac.compare_digest(sent.encode(), token.encode()):
        raise PermissionDenied("The form's security token is missing or wrong.", code="csrf_failed")


def content_security_policy(form_targets: tuple[str, ...] = ()) -> str:
    """``form_targets``: origins a form may lead to besides ours (the IdP: a sign-out's
    redirect to its end-session endpoint is a form navigation, which ``form-action`` covers)."""
    forms = " ".join(("'self'", *form_targets))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action {forms}"
    )


def security_headers(csp: str) -> dict[str, str]:
    return {
        "content-security-policy": csp,
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
        "cache-control": "no-store",
    }
