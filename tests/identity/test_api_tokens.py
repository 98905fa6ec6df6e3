"""Bearer JWTs on the API (issue 16 items 1 and 5), end to end: a real gateway process (Redis,
the durable ledger) in front of the engine simulator, a real identity provider over HTTP
(tests/identity/idp.py), and the official openai SDK as the client.

Every refusal is the SDK's ``AuthenticationError`` with an OpenAI-style body, and is counted
with its reason (``sovereign_auth_failures_total``, on the gateway's metrics port).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from gateway.auth import hash_key
from gateway.settings import Settings
from gateway.telemetry.hub import subject_key
from serving.simulator.background import SimulatorThread
from serving.simulator.host import SimulatorConfig
from tests.identity.idp import IdentityProvider, Key, hmac_signed, unsigned
from tests.processes import SYSTEM_REDIS, VAULT_KEY, GatewayProcess, gateway_process, ledger
from tests.servers import free_port

MODEL = "llama-3.1-8b"
RUN = uuid.uuid4().hex[:8]
TENANT, STRANGER = f"jwt-{RUN}", f"jwt-stranger-{RUN}"
API_KEY = f"sk-jwt-{RUN}"
AUDIENCE = "sovereign-gateway"
HELLO: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "Hallo"}]


@dataclass(frozen=True)
class World:
    idp: IdentityProvider
    gateway: GatewayProcess
    metrics_url: str
    keys: dict[str, Key]
    settings: Settings

    def claims(self, issuer: str = "main", **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.idp.issuers[issuer].url,
            "aud": AUDIENCE,
            "sub": f"user-{uuid.uuid4().hex[:8]}@example.de",
            "sg_tenant": TENANT,
            "iat": now,
            "exp": now + 300,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, key: str = "rsa", issuer: str = "main", **overrides: Any) -> str:
        return self.keys[key].sign(self.claims(issuer, **overrides))

    def client(self, token: str) -> openai.OpenAI:
        return self.gateway.client(token)

    def refusals(self) -> dict[str, float]:
        text = httpx.get(self.metrics_url, timeout=10).text
        return {
            s.labels["reason"]: s.value
            for family in text_string_to_metric_families(text)
            if family.name == "sovereign_auth_failures"
            for s in family.samples
            if s.name.endswith("_total") and s.labels.get("surface") == "api"
        }


def _issuer(idp: IdentityProvider, name: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "issuer": idp.issuers[name].url, "jurisdiction": "DE",
            "operator": "test", **options}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("identity")
    keys = {name: make(name) for name, make in (("rsa", Key.rsa), ("ec", Key.ec),
            ("rot-1", Key.rsa), ("rot-2", Key.rsa), ("flaky", Key.ec), ("other", Key.rsa),
            ("stranger", Key.rsa))}  # fmt: skip
    idp = IdentityProvider()
    idp.add("main", keys["rsa"], keys["ec"])
    idp.add("rotating", keys["rot-1"])
    idp.add("flaky", keys["flaky"])
    idp.add("other", keys["other"])
    metrics_port = free_port()
    with (
        idp.running(),
        SimulatorThread(SimulatorConfig("b200/llama-3.1-8b", MODEL, engines=1, speed=0.02)) as sim,
    ):
        config: dict[str, Any] = {
            "store": {"redis_url": SYSTEM_REDIS, "jurisdiction": "DE", "operator": "test"},
            "security": {"pseudonym_key": VAULT_KEY},
            "metering": {"spool_dir": str(folder / "spool")},
            "privacy": {"default_policy": None},
            "telemetry": {
                "audit_dir": str(folder / "audit"),
                "metrics": {"port": metrics_port, "jurisdiction": "DE", "operator": "test"},
            },
            "identity": {"issuers": [
                _issuer(idp, "main", jwks_min_refresh_s=6.0,  # wide: a busy CI runner is slow
                        user_limits={"requests_per_minute": 50},
                        claims={"limits_tier": "sg_tier"},
                        limit_tiers={"tiny": {"requests_per_minute": 2}}),
                _issuer(idp, "rotating", jwks_cache_s=2.0, jwks_min_refresh_s=0),
                _issuer(idp, "flaky", jwks_cache_s=0.5, jwks_min_refresh_s=0,
                        jwks_max_stale_s=2.0),
                _issuer(idp, "other"),
            ]},
            "pools": [{"name": "de", "jurisdiction": "DE", "site": "de-muc-1", "gpu": "b200",
                       "engines": sim.base_urls, "models": [MODEL]}],
            "tenants": [
                {"id": TENANT, "jwt_issuers": ["main", "rotating", "flaky"],
                 "api_keys": [{"id": f"{TENANT}-1", "hash": hash_key(API_KEY)}]},
                {"id": STRANGER, "api_keys": []},
            ],
        }  # fmt: skip
        settings = Settings(**config)
        with gateway_process(config, folder, "identity") as gateway:
            yield World(idp, gateway, f"http://127.0.0.1:{metrics_port}/metrics", keys, settings)


def _logged(world: World) -> tuple[Counter[str], int]:
    """The gateway's ``auth.failed`` lines by reason, and its lines saying some were
    suppressed (at most 10 a second are written; the counter counts them all)."""
    reasons: Counter[str] = Counter()
    suppressed = 0
    for line in Path(world.gateway.log_path).read_text().splitlines():
        if '"auth.failed' not in line:
            continue
        entry = json.loads(line)
        if entry["event"] == "auth.failed":
            reasons[entry["reason"]] += 1
        elif entry["event"] == "auth.failed.suppressed":
            suppressed += 1
    return reasons, suppressed


def _refused(world: World, token: str, reason: str) -> openai.AuthenticationError:
    """The SDK's AuthenticationError for ``token``, counted and logged under ``reason``."""
    before = world.refusals().get(reason, 0.0)
    logged_before, suppressed_before = _logged(world)
    with pytest.raises(openai.AuthenticationError) as raised:
        world.client(token).models.list()
    error = raised.value
    assert error.status_code == 401
    body = error.response.json()["error"]
    assert body["type"] == "authentication_error"
    assert body["code"] == "invalid_api_key"
    assert set(body) == {"message", "type", "param", "code"}
    assert world.refusals().get(reason, 0.0) == before + 1, world.refusals()
    deadline = time.monotonic() + 3
    while True:
        logged, suppressed = _logged(world)
        if logged[reason] > logged_before[reason] or suppressed > suppressed_before:
            break
        assert time.monotonic() < deadline, f"no auth.failed line for {reason}"
        time.sleep(0.05)
    return error


def _chat(world: World, token: str, **options: Any) -> Any:
    return world.client(token).chat.completions.with_raw_response.create(
        model=MODEL, messages=HELLO, max_tokens=2, **options
    )


def test_a_valid_token_is_served_and_metered_by_its_subject_reference(world: World) -> None:
    claims = world.claims()
    subject = claims["sub"]
    token = world.keys["rsa"].sign(claims)
    # The token's subject is the data subject: the `user` field cannot pose as someone else.
    raw = _chat(world, token, user="somebody-else@example.de")
    assert raw.http_response.status_code == 200
    request_id = raw.headers["x-request-id"]
    assert world.client(world.token("ec")).models.list().data  # ES256 as well

    records = [r for r in ledger(SYSTEM_REDIS, TENANT, at_least=1) if r.request_id == request_id]
    assert len(records) == 1
    record = records[0]
    expected = hmac.new(subject_key(world.settings), subject.encode(), hashlib.sha256).hexdigest()
    assert record.key_id == "jwt:main"
    assert record.subject_ref == expected
    assert subject not in record.model_dump_json()
    # Redis holds the per-user scope by reference only, never the subject.
    client = redis.Redis.from_url(SYSTEM_REDIS)
    try:
        keys = [k.decode() for k in client.scan_iter(match=f"sg:{{{TENANT}}}:*", count=1000)]
    finally:
        client.close()
    assert any(f":q:user:{expected}:" in k for k in keys), keys
    assert not [k for k in keys if subject in k]


def test_an_api_key_of_the_same_tenant_still_works(world: World) -> None:
    raw = _chat(world, API_KEY)
    assert raw.http_response.status_code == 200
    _refused(world, "sk-jwt-not-a-key", "unknown_key")


def test_expired_and_not_yet_valid_tokens_are_refused(world: World) -> None:
    now = int(time.time())
    error = _refused(world, world.token(exp=now - 120), "token_expired")
    assert "expired" in error.message
    _refused(world, world.token(nbf=now + 600), "not_yet_valid")


def test_wrong_audience_and_unknown_issuer_are_refused(world: World) -> None:
    _refused(world, world.token(aud="someone-else"), "wrong_audience")
    stranger = world.keys["stranger"].sign(world.claims(iss=world.idp.base_url + "/nobody"))
    unknown = _refused(world, stranger, "unknown_issuer")
    # A tenant that does not accept the issuer, and a tenant that does not exist, answer
    # exactly as an unknown issuer: no tenant can be found out this way.
    refusing = _refused(world, world.token("other", "other"), "tenant_refused")
    absent = _refused(world, world.token(sg_tenant=f"absent-{RUN}"), "tenant_refused")
    stranger_tenant = _refused(world, world.token(sg_tenant=STRANGER), "tenant_refused")
    assert unknown.message == refusing.message == absent.message == stranger_tenant.message


def test_unsigned_and_hmac_confused_tokens_are_refused_before_any_key_lookup(
    world: World,
) -> None:
    key = world.keys["rsa"]
    fetches = world.idp.fetches["main"]
    _refused(world, unsigned(world.claims(), key.kid), "algorithm_refused")
    # HS256 "signed" with the issuer's public key, as PEM and as its JWK, as the HMAC secret.
    _refused(world, hmac_signed(world.claims(), key.kid, key.public_pem()), "algorithm_refused")
    jwk = json.dumps(key.jwk()).encode()
    _refused(world, hmac_signed(world.claims(), key.kid, jwk), "algorithm_refused")
    assert world.idp.fetches["main"] == fetches


def test_an_unknown_kid_refetches_once_then_not_within_the_minimum_interval(
    world: World,
) -> None:
    assert world.client(world.token()).models.list().data  # keys are cached
    world.idp.wait_since_last_fetch("main", 6.1)  # jwks_min_refresh_s has passed
    fetches = world.idp.fetches["main"]
    unknown = Key.rsa("never-published")
    _refused(world, unknown.sign(world.claims()), "unknown_kid")
    assert world.idp.fetches["main"] == fetches + 1
    _refused(world, unknown.sign(world.claims()), "unknown_kid")
    assert world.idp.fetches["main"] == fetches + 1
    _refused(world, world.keys["rsa"].sign(world.claims(), kid="made-up"), "unknown_kid")
    assert world.idp.fetches["main"] == fetches + 1


def test_a_rotated_key_is_picked_up_and_the_dropped_one_refused(world: World) -> None:
    old, new = world.keys["rot-1"], world.keys["rot-2"]
    world.idp.wait_since_last_fetch("rotating", 2.1)  # the next token reads the keys afresh
    assert world.client(world.token("rot-1", "rotating")).models.list().data
    world.idp.publish("rotating", new)  # the IdP rotates: the new key in, the old one out
    assert world.client(world.token("rot-1", "rotating")).models.list().data  # still cached
    assert world.client(world.token("rot-2", "rotating")).models.list().data  # unknown: re-read
    time.sleep(2.1)  # jwks_cache_s: the cache is stale and re-read
    _refused(world, old.sign(world.claims("rotating")), "unknown_kid")
    assert world.client(world.token("rot-2", "rotating")).models.list().data


def test_an_unreachable_idp_keeps_cached_keys_within_max_stale_then_fails_closed(
    world: World,
) -> None:
    world.idp.wait_since_last_fetch("flaky", 0.6)  # the next token reads the keys afresh
    assert world.client(world.token("flaky", "flaky")).models.list().data
    read_at = world.idp.last_fetch["flaky"]
    world.idp.set_down("flaky", True)
    try:
        time.sleep(0.6)  # past jwks_cache_s: a read is due, and fails
        assert world.client(world.token("flaky", "flaky")).models.list().data  # stale, in bounds
        assert world.idp.last_request["flaky"] > read_at  # it did try
        time.sleep(max(0.0, read_at + 0.5 + 2.0 + 0.2 - time.monotonic()))  # past max stale
        error = _refused(world, world.token("flaky", "flaky"), "idp_unreachable")
        assert "identity provider is unreachable" in error.message
    finally:
        world.idp.set_down("flaky", False)
    assert world.client(world.token("flaky", "flaky")).models.list().data  # back


def test_oversized_and_garbage_tokens_are_refused(world: World) -> None:
    _refused(world, world.token(padding="x" * 9000), "token_too_long")
    _refused(world, "abc.def.ghi", "token_malformed")
    _refused(world, "e30.e30.", "algorithm_refused")  # {} as header: no algorithm at all
    _refused(world, "not a token at all", "malformed")


def test_per_user_limits_refuse_one_user_but_not_another_of_the_same_tenant(
    world: World,
) -> None:
    alice, bob = world.claims(sg_tier="tiny"), world.claims(sg_tier="tiny")
    alice_token, bob_token = world.keys["rsa"].sign(alice), world.keys["ec"].sign(bob)
    for _ in range(2):
        assert _chat(world, alice_token).http_response.status_code == 200
    with pytest.raises(openai.RateLimitError) as raised:
        _chat(world, alice_token)
    assert raised.value.status_code == 429
    assert 1 <= int(raised.value.response.headers["retry-after"]) <= 60
    assert _chat(world, bob_token).http_response.status_code == 200
    assert _chat(world, API_KEY).http_response.status_code == 200  # the tenant is not limited


def test_the_metrics_name_no_subject(world: World) -> None:
    text = httpx.get(world.metrics_url, timeout=10).text
    assert "@example.de" not in text
    assert Path(world.gateway.log_path).read_text().count("@example.de") == 0


def test_files_and_batches_take_tokens_but_batches_are_created_with_a_key(world: World) -> None:
    client = world.client(world.token())
    with pytest.raises(openai.NotFoundError) as not_configured:  # past authentication
        client.files.list()
    assert not_configured.value.code == "batches_not_configured"
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.batches.create(
            input_file_id="file-x", endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert "API key" in denied.value.message
    with pytest.raises(openai.AuthenticationError):
        world.client(world.token(aud="someone-else")).files.list()
