"""Failed authentications are counted and logged, so key guessing shows (issue 12): every
failure in ``sovereign_auth_failures_total{surface, reason}``, a rate-limited ``auth.failed``
line with a fingerprint of the credential, never the credential itself.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from gateway.app import create_app
from gateway.auth import KeyRing, hash_key
from gateway.auth_failures import AuthFailures
from gateway.core.tenant import Principal
from gateway.errors import AuthenticationFailed
from gateway.topology import Tenant
from tests.unit.conftest import CHAT, DE_KEY, make_settings

ADMIN_TOKEN = "sk-admin-token-for-auth-failures"
GUESS = "sk-sov-guessed-key-0123456789"
TENANT = Tenant("t", frozenset({"DE"}), None)


def _failures(surface: str, reason: str) -> float:
    labels = {"surface": surface, "reason": reason}
    return REGISTRY.get_sample_value("sovereign_auth_failures_total", labels) or 0.0


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = make_settings(admin={"token_hash": hash_key(ADMIN_TOKEN)})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _failed_lines(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == "auth.failed"]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "malformed"),
        ({"authorization": "Bearer " + "x" * 5000}, "malformed"),
        ({"authorization": f"Bearer {GUESS}"}, "unknown_key"),
    ],
)
def test_each_failed_api_authentication_is_counted_and_logged(
    client: TestClient, headers: dict[str, str], reason: str
) -> None:
    before = _failures("api", reason)
    with capture_logs() as logs:
        response = client.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert response.status_code == 401
    assert _failures("api", reason) == before + 1
    (line,) = _failed_lines(logs)
    assert line["surface"] == "api"
    assert line["reason"] == reason
    assert line["client"] == "testclient"
    assert line["log_level"] == "warning"
    if reason == "missing":
        assert line["fingerprint"] is None
    else:
        assert re.fullmatch(r"[0-9a-f]{12}", line["fingerprint"])
    assert GUESS not in repr(logs)


def test_repeated_guesses_of_one_key_share_a_fingerprint_and_others_do_not(
    client: TestClient,
) -> None:
    with capture_logs() as logs:
        for key in (GUESS, GUESS, GUESS + "x"):
            client.get("/v1/models", headers={"authorization": f"Bearer {key}"})
    first, second, other = (line["fingerprint"] for line in _failed_lines(logs))
    assert first == second
    assert other != first
    assert first not in GUESS  # not a piece of the key


def test_a_good_key_is_neither_counted_nor_logged(client: TestClient) -> None:
    before = sum(_failures("api", r) for r in ("missing", "malformed", "unknown_key"))
    with capture_logs() as logs:
        response = client.get("/v1/models", headers={"authorization": f"Bearer {DE_KEY}"})
    assert response.status_code == 200
    assert _failed_lines(logs) == []
    assert sum(_failures("api", r) for r in ("missing", "malformed", "unknown_key")) == before


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({"authorization": "Token abc"}, "malformed"),
        ({"authorization": f"Bearer {DE_KEY}"}, "unknown_key"),  # a tenant key is no token
    ],
)
def test_failed_admin_authentications_are_counted_apart(
    client: TestClient, headers: dict[str, str], reason: str
) -> None:
    before = _failures("admin", reason)
    with capture_logs() as logs:
        response = client.get("/admin/v1/tenants", headers=headers)
    assert response.status_code == 401
    assert _failures("admin", reason) == before + 1
    (line,) = _failed_lines(logs)
    assert (line["surface"], line["reason"]) == ("admin", reason)
    assert DE_KEY not in repr(logs)


def test_an_expired_key_fails_with_its_own_reason() -> None:
    expired = Principal(TENANT, "old", expires_at=time.time() - 1)
    ring = KeyRing([(hash_key("k-old"), expired)], pepper=None)
    with pytest.raises(AuthenticationFailed) as caught:
        ring.authenticate("Bearer k-old")
    assert caught.value.reason == "expired"
    with pytest.raises(AuthenticationFailed) as unknown:
        ring.authenticate("Bearer k-new")
    assert unknown.value.reason == "unknown_key"


def test_a_guessing_storm_is_counted_whole_but_logged_at_a_bounded_rate(
    client: TestClient,
) -> None:
    before = _failures("api", "unknown_key")
    with capture_logs() as logs:
        for i in range(60):
            client.get("/v1/models", headers={"authorization": f"Bearer guess-{i}"})
    assert _failures("api", "unknown_key") == before + 60
    assert len(_failed_lines(logs)) < 60  # the default allows 10 lines a second


async def test_lines_held_back_are_summarised_once_the_window_is_over() -> None:
    failures = AuthFailures(None, lines_per_window=5, window_s=0.2)
    with capture_logs() as logs:
        for i in range(20):
            failures.record("api", "unknown_key", f"Bearer guess-{i}", "203.0.113.9")
        await asyncio.sleep(0.5)
    assert len(_failed_lines(logs)) == 5
    (summary,) = [entry for entry in logs if entry["event"] == "auth.failed.suppressed"]
    assert summary["count"] == 15
    assert summary["log_level"] == "warning"


async def test_the_fingerprint_is_keyed_with_the_pepper_when_there_is_one() -> None:
    plain, peppered = AuthFailures(None), AuthFailures(b"pepper")
    assert plain.fingerprint("Bearer k") == AuthFailures(None).fingerprint("Bearer k")
    assert plain.fingerprint("Bearer k") != peppered.fingerprint("Bearer k")
    # The key, not its header's spelling: "bearer" and "Bearer" are one guess.
    assert plain.fingerprint("bearer k") == plain.fingerprint("Bearer k")
    assert plain.fingerprint(None) is None
