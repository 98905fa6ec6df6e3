"""The console as the lifespan builds it: settings, session store, sign-in sealer, OIDC
client, templates.

One ``Console`` per process (``Resources.console``; None when ``console.enabled`` is false, and
then every /console route answers 404). Sessions go to Redis when the gateway has a shared
store, so any replica serves any browser; embedded, they stay in this process. Sign-ins
under way are sealed in the browser under a key derived from ``security.pseudonym_key``
(gateway/console/login_state.py), required with a shared store for the same reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jinja2
from pydantic import SecretStr
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from gateway.console import oidc
from gateway.console.formats import FILTERS
from gateway.console.guard import content_security_policy, origin_of
from gateway.console.login_state import LoginSealer, login_key
from gateway.console.sessions import MemorySessions, RedisSessions, SessionStore
from gateway.console.settings import ConsoleSettings
from gateway.identity.settings import IdentitySettings
from gateway.quota.keyspace import RedisClient

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class Console:
    settings: ConsoleSettings
    sessions: SessionStore
    client: oidc.Client
    verifier: oidc.Verifier
    actor_of: oidc.ActorOf
    http: httpx.AsyncClient
    templates: Jinja2Templates
    csp: str
    clock: Callable[[], float] = field(default=time.time)
    logins: LoginSealer = field(default_factory=lambda: LoginSealer(login_key(None)))

    def base_url(self, request: Request) -> str:
        """``console.public_url`` (behind a proxy it must be set), else this request's own."""
        configured = self.settings.public_url
        if configured is not None:
            return str(configured).rstrip("/")
        return str(request.base_url).rstrip("/")

    def origin(self, request: Request) -> str:
        return origin_of(self.base_url(request))

    def redirect_uri(self, request: Request) -> str:
        return self.base_url(request) + oidc.CALLBACK_PATH


def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is escaped, whatever the template's name
        undefined=jinja2.StrictUndefined,  # a missing value is an error, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return Jinja2Templates(env=env)


def build_console(
    settings: ConsoleSettings,
    identity: IdentitySettings,
    redis: RedisClient | None,
    http: httpx.AsyncClient,
    verifier: oidc.Verifier | None,
    actor_of: oidc.ActorOf,
    *,
    secret: SecretStr | None = None,
) -> Console | None:
    """``secret``: ``security.pseudonym_key``, the root of the sign-in sealing key."""
    if not settings.enabled:
        return None
    if verifier is None or settings.issuer is None:  # settings validation prevents it
        raise ValueError("console.enabled needs console.issuer among identity.issuers")
    if redis is not None and secret is None:
        raise ValueError(
            "the console needs security.pseudonym_key with a shared store: every replica must "
            "open the sign-ins that another began (make one with `sovereign-gateway keys vault`)"
        )
    issuer = next(i for i in identity.issuers if i.name == settings.issuer)
    secret = settings.client_secret
    client = oidc.Client(
        settings.issuer,
        settings.client_id,
        secret.get_secret_value() if secret is not None else None,
        tuple(settings.scopes),
    )
    sessions: SessionStore = MemorySessions() if redis is None else RedisSessions(redis)
    csp = content_security_policy((origin_of(str(issuer.issuer)),))
    seed = None if secret is None else secret.get_secret_value().encode()
    logins = LoginSealer(login_key(seed))
    return Console(
        settings, sessions, client, verifier, actor_of, http, templates(), csp, logins=logins
    )
