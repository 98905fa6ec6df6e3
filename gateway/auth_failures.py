"""Failed authentications, counted and logged, so that guessing keys does not go unseen.

Every failure on ``/v1`` (API keys) and ``/admin/v1`` (the admin token) is counted in
``sovereign_auth_failures_total{surface, reason}``, with bounded labels only (surface ``api``
or ``admin``; reason ``missing``, ``malformed``, ``unknown_key``, ``expired``, and for bearer
JWTs ``token_expired``, ``unknown_kid``, ... as ``errors.AuthFailureReason`` lists), and
logged as ``auth.failed`` with the client's address and a fingerprint of the credential.

The fingerprint is the first 12 hex digits of an HMAC of the key (of the whole header when it
is malformed), keyed with the key pepper when there is one: the same guess gets the same
fingerprint on every replica and after a restart, so repeated guesses correlate, while the
credential itself is never logged (48 bits of a keyed hash give nothing of a 256-bit key,
and without the pepper not even a way to test candidates).

Log lines are rate-limited per process, so a guessing storm cannot flood the log sink: at
most ``lines_per_window`` per ``window_s``; the rest are counted and summarised in one
``auth.failed.suppressed`` line when the window ends. The metric counts every failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Literal

import structlog

from gateway.auth import parse_bearer
from gateway.errors import AuthenticationFailed, AuthFailureReason
from gateway.metrics import AUTH_FAILURES

Surface = Literal["api", "admin"]

log = structlog.get_logger("gateway.auth")
_FINGERPRINT_DOMAIN = b"sovereign-gateway auth-failure fingerprint\x00"


class AuthFailures:
    def __init__(
        self, pepper: bytes | None, *, lines_per_window: int = 10, window_s: float = 1.0
    ) -> None:
        # Domain-separated from the key hashes: a fingerprint is never a prefix of a stored
        # hash, so the log cannot be matched against the configuration's key hashes.
        self._key = hashlib.sha256(_FINGERPRINT_DOMAIN + (pepper or b"")).digest()
        self._limit = lines_per_window
        self._window_s = window_s
        self._window_end = 0.0
        self._logged = 0
        self._suppressed = 0
        self._summary: asyncio.TimerHandle | None = None

    def fingerprint(self, authorization: str | None) -> str | None:
        if not authorization:
            return None
        try:
            credential = parse_bearer(authorization)
        except AuthenticationFailed:
            credential = authorization
        return hmac.new(self._key, credential.encode(), hashlib.sha256).hexdigest()[:12]

    def record(
        self,
        surface: Surface,
        reason: AuthFailureReason,
        authorization: str | None,
        client: str | None,
    ) -> None:
        """Count the failure; log it, unless this window's lines are spent."""
        AUTH_FAILURES.labels(surface, reason).inc()
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now >= self._window_end:
            self._summarise()
            self._window_end = now + self._window_s
            self._logged = 0
        if self._logged < self._limit:
            self._logged += 1
            log.warning(
                "auth.failed",
                surface=surface,
                reason=reason,
                client=client,
                fingerprint=self.fingerprint(authorization),
            )
            return
        self._suppressed += 1
        if self._summary is None:
            self._summary = loop.call_at(self._window_end, self._summarise)

    def _summarise(self) -> None:
        if self._summary is not None:
            self._summary.cancel()
            self._summary = None
        if self._suppressed:
            log.warning("auth.failed.suppressed", count=self._suppressed, window_s=self._window_s)
            self._suppressed = 0
