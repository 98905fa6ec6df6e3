"""One real gateway for the admin tests (uvicorn in a thread), as deployed: tenants, keys and
limits on the suite's Redis (db 0), the usage ledger and the audit trail in PostgreSQL (the
audit in a schema of its own), a batch store in a folder, the GDPR analyzer, and engines
behind ``httpx.MockTransport``. People sign in with JWTs of a real identity provider over
HTTP (tests/identity/idp.py); automation uses admin tokens.

Actors: the platform admin's token; named tokens for an auditor, a DPO, an operator and a
tenant admin of ``ACME``; and for each role a JWT whose IdP group the issuer's role_map turns
into that role (plus one whose group maps to nothing).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.auth import hash_key
from gateway.core.usage import UsageRecord
from gateway.settings import Settings
from tests.identity.idp import IdentityProvider, Key
from tests.ledger_db import PG_DSN, drop_schema, metering_section
from tests.processes import SYSTEM_REDIS, VAULT_KEY, ledger
from tests.servers import gateway_thread
from tests.unit.conftest import FakeEngines, chat_ok, make_settings

RUN = uuid.uuid4().hex[:8]
ACME, OTHER = f"adm-acme-{RUN}", f"adm-other-{RUN}"
ACME_KEY, OTHER_KEY = f"sk-adm-acme-{RUN}", f"sk-adm-other-{RUN}"
PLATFORM_TOKEN = f"sg-admin-{RUN}"
NAMED = {  # role -> (token id, its secret)
    "auditor": ("audit-bot", f"sg-audit-{RUN}"),
    "dpo": ("dpo-bot", f"sg-dpo-{RUN}"),
    "operator": ("ops-bot", f"sg-ops-{RUN}"),
    "tenant_admin": ("acme-bot", f"sg-acme-{RUN}"),
}
GROUPS = {  # the IdP's groups -> the gateway's roles
    "gw-platform": "platform_admin",
    "gw-tenant": "tenant_admin",
    "gw-audit": "auditor",
    "gw-dpo": "dpo",
    "gw-ops": "operator",
}
ROLES = ("platform_admin", "tenant_admin", "auditor", "dpo", "operator")
AUDIENCE = "sovereign-gateway"
PERSON_PROMPT = "Bitte schreiben Sie an Erika Musterfrau in Berlin."


def streamed(request: httpx.Request) -> httpx.Response:
    """A streamed answer with a usage chunk (the gateway measures its first token)."""
    events = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hal"}}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}},
    ]
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)

    async def chunks() -> AsyncIterator[bytes]:
        yield body
        yield b"data: [DONE]\n\n"

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=chunks())


def engine(request: httpx.Request) -> httpx.Response:
    return streamed(request) if json.loads(request.content).get("stream") else chat_ok(request)


@dataclass(frozen=True)
class World:
    url: str
    idp: IdentityProvider
    key: Key
    audit_schema: str

    def admin(self, credential: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url + "/admin/v1",
            headers={"authorization": f"Bearer {credential}"},
            timeout=30,
        )

    def jwt(self, *groups: str, tenant: str | None = None, sub: str | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.idp.issuers["corp"].url,
            "aud": AUDIENCE,
            "sub": sub or f"person-{uuid.uuid4().hex[:8]}",
            "preferred_username": "Test Person",
            "sg_roles": list(groups),
            "iat": now,
            "exp": now + 600,
        }
        if tenant is not None:
            claims["sg_tenant"] = tenant
        return self.key.sign(claims)

    def credential(self, role: str, kind: str) -> str:
        """A credential acting in ``role``: an admin token, or a JWT ("none": no role)."""
        if kind == "token":
            return PLATFORM_TOKEN if role == "platform_admin" else NAMED[role][1]
        group = next((g for g, r in GROUPS.items() if r == role), "gw-unknown")
        return self.jwt(group, tenant=ACME if role == "tenant_admin" else None)

    def chat(self, key: str, text: str, user: str | None = None, stream: bool = False) -> None:
        body: dict[str, Any] = {
            "model": "smollm2",
            "messages": [{"role": "user", "content": text}],
            "stream": stream,
        }
        if user is not None:
            body["user"] = user
        response = httpx.post(
            self.url + "/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text

    def usage(self, tenant: str, at_least: int) -> list[UsageRecord]:
        return ledger(SYSTEM_REDIS, tenant, at_least=at_least)


def settings_for(folder: Path, idp: IdentityProvider, audit_schema: str) -> Settings:
    named = [
        {"id": token_id, "hash": hash_key(secret), "roles": [role]}
        | ({"tenant": ACME} if role == "tenant_admin" else {})
        for role, (token_id, secret) in NAMED.items()
    ]
    keys = {ACME: ACME_KEY, OTHER: OTHER_KEY}
    return make_settings(
        store={"redis_url": SYSTEM_REDIS, "jurisdiction": "DE", "operator": "test"},
        security={"pseudonym_key": VAULT_KEY},
        metering=metering_section(spool_dir=str(folder / "spool")),
        telemetry={
            "allowed_jurisdictions": ["DE", "AT"],
            "audit_dir": str(folder / "audit"),
            "flush_interval_ms": 20,
            "audit": {
                "jurisdiction": "DE",
                "operator": "test",
                "dsn": PG_DSN,
                "schema_name": audit_schema,
            },
        },
        batches={"store": {"path": str(folder / "batches"), "jurisdiction": "DE", "operator": "t"}},
        admin={"token_hash": hash_key(PLATFORM_TOKEN), "tokens": named},
        identity={
            "issuers": [
                {
                    "name": "corp",
                    "issuer": idp.issuers["corp"].url,
                    "jurisdiction": "DE",
                    "operator": "test",
                    "role_map": GROUPS,
                }
            ]
        },
        tenants=[
            {"id": t, "api_keys": [{"id": f"{t}-1", "hash": hash_key(k)}]} for t, k in keys.items()
        ],
    )


# Package-scoped: started once for tests/admin, and stopped before the rest of the suite runs.
@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("admin")
    key = Key.rsa(f"kid-{RUN}")
    idp = IdentityProvider()
    idp.add("corp", key)
    audit_schema = f"sga_{RUN}"
    engines = FakeEngines(engine)
    try:
        with (
            idp.running(),
            gateway_thread(
                settings_for(folder, idp, audit_schema), httpx.MockTransport(engines)
            ) as url,
        ):
            world = World(url, idp, key, audit_schema)
            # Usage to read: ACME's with a name in it (the policy pseudonymises it), by two
            # users, streamed and not; OTHER's, which ACME's admin must never see.
            world.chat(ACME_KEY, PERSON_PROMPT, user="kundin-4711", stream=True)
            world.chat(ACME_KEY, "Hallo", user="kunde-0815")
            world.chat(ACME_KEY, "Guten Tag", stream=True)
            world.chat(OTHER_KEY, PERSON_PROMPT, user="fremd-1")
            world.usage(ACME, at_least=3)
            world.usage(OTHER, at_least=1)
            yield world
    finally:
        drop_schema(audit_schema)
