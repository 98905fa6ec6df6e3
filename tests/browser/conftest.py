"""The console's real stack, once for this package: the test OpenID provider (Node.js), a
gateway process in front of the real vLLM engine (a Redis of its own, the durable ledger and
the audit chain in PostgreSQL, schemas of its own) and Debian's Chromium driven by Playwright.

Every page a test visits is saved under tests/browser/screenshots/ (emptied at the start).
Package scope: the servers and the browser stop when this package's tests are done.
"""

from __future__ import annotations

import base64
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from gateway.auth import hash_key
from tests.browser.idp import API_AUDIENCE, IdentityProvider, identity_provider
from tests.browser.pages import SCREENSHOTS
from tests.ledger_db import PG_DSN, drop_schema, new_schema
from tests.processes import (
    ADMIN_TOKEN,
    VAULT_KEY,
    GatewayProcess,
    RedisServer,
    gateway_process,
)
from tests.servers import EngineUnderTest, free_port

CHROMIUM = Path("/usr/bin/chromium")
# Headless (Playwright's default) and nothing but localhost: this machine's network is
# closed, and Chromium's background services would knock on it at every start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]  # fmt: skip
# Playwright turns Chromium's back-forward cache off; people's Chrome has it on, and the back
# button must not bring a new key back (test_console_platform.py).
CHROMIUM_DEFAULTS_DROPPED = ["--disable-back-forward-cache"]
ISSUER_NAME = "test-idp"
# A machine client of the other tenant, which accepts no JWTs: its real tokens are refused.
OTHER_MACHINE = "globex-machine"
OTHER_KEY = "sk-browser-globex-" + uuid.uuid4().hex
AUDIT_KEY = base64.b64encode(b"browser-audit-hmac-key-32-bytes!").decode()
ROLE_MAP = {
    "gw-platform-admins": "platform_admin",
    "gw-tenant-admins": "tenant_admin",
    "gw-dpo": "dpo",
    "gw-auditors": "auditor",
}


@dataclass(frozen=True)
class ConsoleStack:
    gateway: GatewayProcess
    idp: IdentityProvider
    model: str
    other_tenant: str  # configured too, not tom's: he must not see it
    other_key: str  # an API key of other_tenant (in the configuration)
    schema: str  # the ledger's and the audit's (PostgreSQL)

    @property
    def base_url(self) -> str:
        return self.gateway.base_url

    @property
    def tenant(self) -> str:
        """The configured tenant: tom's, accepting the IdP's JWTs (acme-<random>)."""
        return self.idp.tenant

    def client(self, api_key: str) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.base_url + "/v1", api_key=api_key, max_retries=0, timeout=120
        )


def gateway_config(
    port: int, issuer: str, tenants: list[str], engine: EngineUnderTest, folder: Path,
    redis_url: str, schema: str,
) -> dict[str, Any]:  # fmt: skip
    """``tenants[0]`` accepts the IdP's JWTs, ``tenants[1]`` has the key ``OTHER_KEY``."""
    here = {"jurisdiction": "DE", "operator": "test"}  # where every sink is, and who runs it
    return {
        "server": {"port": port},
        "store": {"redis_url": redis_url, **here},
        "security": {"pseudonym_key": VAULT_KEY},
        "privacy": {"default_policy": None},
        "admin": {"token_hash": hash_key(ADMIN_TOKEN)},
        "metering": {
            "spool_dir": str(folder / "spool"),
            "ledger_dsn": PG_DSN,
            "ledger_jurisdiction": "DE",
            "ledger_operator": "test",
            "ledger_schema": schema,
        },
        "telemetry": {
            "audit_dir": str(folder / "audit"),
            "flush_interval_ms": 100,
            "audit": {
                **here,
                "dsn": PG_DSN,
                "schema_name": schema,
                "chain": "browser",
                "hmac_key": AUDIT_KEY,
                "anchor_interval": 1.0,
            },
        },
        "identity": {
            "issuers": [
                {
                    "name": ISSUER_NAME,
                    "issuer": issuer,
                    **here,
                    "audience": API_AUDIENCE,
                    # A token with a new key's kid re-reads the JWKS at once (the rotation test).
                    "jwks_min_refresh_s": 0,
                    "claims": {
                        "tenant": "sg_tenant",
                        "roles": "sg_roles",
                        "name": "preferred_username",
                    },
                    "role_map": ROLE_MAP,
                }
            ]
        },
        "console": {
            "enabled": True,
            "issuer": ISSUER_NAME,
            "client_id": "sovereign-console",
            "public_url": f"http://127.0.0.1:{port}",
            # Chromium keeps Secure cookies over plain http on 127.0.0.1 (a secure context).
            "cookie_secure": True,
        },
        "pools": [
            {
                "name": "local-de",
                "jurisdiction": "DE",
                "site": "de-local-1",
                "engines": [engine.base_url],
                "models": [engine.model],
            }
        ],
        "tenants": [
            {"id": tenants[0], "jwt_issuers": [ISSUER_NAME]},
            {"id": tenants[1], "api_keys": [{"id": "static", "hash": hash_key(OTHER_KEY)}]},
        ],
    }


@pytest.fixture(scope="package")
def stack(
    engine: EngineUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleStack]:
    folder = tmp_path_factory.mktemp("console")
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    tenant, other = (f"{name}-{uuid.uuid4().hex[:6]}" for name in ("acme", "globex"))
    schema = new_schema()
    try:
        # A Redis of its own, not the suite's db 0: the console lists every tenant in its store,
        # and db 0 holds every test run's tenants (pages and screenshots would vary).
        with (
            RedisServer(folder) as redis,
            identity_provider(
                folder / "idp.log",
                redirect_uri=public + "/console/auth/callback",
                post_logout_uri=public + "/console/signed-out",
                tenant=tenant,
                machines={OTHER_MACHINE: other},
            ) as idp,
        ):
            config = gateway_config(
                port, idp.issuer, [tenant, other], engine, folder, redis.url, schema
            )
            with gateway_process(config, folder, "console") as gateway:
                yield ConsoleStack(gateway, idp, engine.model, other, OTHER_KEY, schema)
    finally:
        drop_schema(schema)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make install` (Debian's chromium)")
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            ignore_default_args=CHROMIUM_DEFAULTS_DROPPED,
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile per test (no cookies: nobody is signed in)."""
    fresh = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    fresh.set_default_timeout(15_000)
    try:
        yield fresh
    finally:
        fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
