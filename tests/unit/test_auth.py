from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.auth import KeyRing, hash_key, new_key
from gateway.core.tenant import Principal
from gateway.errors import AuthenticationFailed
from gateway.topology import Tenant
from tests.unit.conftest import CHAT, DE_KEY, FakeEngines

TENANT = Tenant("t", frozenset({"DE"}), None)


def test_keys_are_random_and_hashes_are_stable() -> None:
    assert new_key() != new_key()
    assert new_key().startswith("sk-sov-")
    assert hash_key("abc") == hash_key("abc")
    assert hash_key("abc").startswith("sha256:")
    assert hash_key("abc", b"pepper").startswith("hmac-sha256:")
    assert hash_key("abc", b"pepper") != hash_key("abc", b"other")


def test_keyring_finds_the_principal_by_hash() -> None:
    ring = KeyRing(
        [
            (hash_key("k1"), Principal(TENANT, "id-1")),
            (hash_key("k2", b"p"), Principal(TENANT, "id-2")),
        ],
        pepper=b"p",
    )
    assert ring.authenticate("Bearer k1").key_id == "id-1"
    assert ring.authenticate("bearer k2").key_id == "id-2"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_api_key"),
        ("", "missing_api_key"),
        ("Basic dXNlcjpwYXNz", "invalid_api_key"),
        ("Bearer ", "invalid_api_key"),
        ("Bearer two words", "invalid_api_key"),
        ("Bearer " + "x" * 5000, "invalid_api_key"),
        ("Bearer unknown-key", "invalid_api_key"),
    ],
)
def test_bad_credentials_are_rejected(header: str | None, code: str) -> None:
    ring = KeyRing([(hash_key("k1"), Principal(TENANT, "id-1"))], pepper=None)
    with pytest.raises(AuthenticationFailed) as caught:
        ring.authenticate(header)
    assert caught.value.code == code
    assert caught.value.status == 401


def test_peppered_hash_without_pepper_fails_at_start() -> None:
    with pytest.raises(ValueError, match="pepper"):
        KeyRing([(hash_key("k", b"p"), Principal(TENANT, "id"))], pepper=None)


def test_keyring_holds_no_clear_key() -> None:
    ring = KeyRing([(hash_key(DE_KEY), Principal(TENANT, "id-1"))], pepper=None)
    assert DE_KEY not in repr(vars(ring))
    assert DE_KEY.encode() not in b"".join([*ring._plain, *ring._peppered])


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Bearer nope"}, {"authorization": "Token x"}]
)
def test_http_401_in_openai_form(
    client: TestClient, engines: FakeEngines, headers: dict[str, str]
) -> None:
    for method, path in [("POST", "/v1/chat/completions"), ("GET", "/v1/models")]:
        response = client.request(method, path, json=CHAT, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"
        assert response.headers["x-request-id"]
    assert engines.requests == []


def test_probes_need_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
