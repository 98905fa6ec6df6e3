"""Sign-in, sign-out, the language switcher and the static assets.

Cookies (all ``Path=/console``, ``HttpOnly``, ``Secure`` per ``console.cookie_secure``):

- ``sg_console``: the session id (random, 256 bits; a new one at every sign-in, so an id
  planted before sign-in is worth nothing). ``SameSite=Lax``, not Strict: the IdP's redirect
  back to the callback is a cross-site top-level GET, and the first page after it must see
  the session; Lax still withholds the cookie from cross-site POSTs, frames and fetches.
- ``sg_console_login``: a sign-in under way (ten minutes), sealed (AES-GCM): its OAuth
  ``state``, nonce, PKCE verifier and return path (gateway/console/login_state.py). A callback
  completes only in the browser that began it (no login CSRF), and only once.
- ``sg_console_lang``: the language chosen with the switcher (a year).

The two GETs that create something are OpenID Connect's own redirects: the sign-in's start (a
sealed cookie; nothing on the server) and the callback (the session, only for the browser
that began the sign-in, after the IdP vouched for it). Every other change is a POST with the
session's CSRF token.
"""

from __future__ import annotations

import hmac
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Protocol

import structlog
from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from gateway.console import oidc
from gateway.console.guard import check_post, forbidden_cross_site, safe_next, same_origin
from gateway.console.i18n import LANGUAGE_COOKIE, as_language
from gateway.console.login_state import LOGIN_TTL_S, LoginState
from gateway.console.runtime import Console
from gateway.console.sessions import Session, new_secret
from gateway.console.web import (
    COOKIE_PATH,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    ConsoleDep,
    ConsoleRoute,
    FormDep,
    MaybeSessionDep,
    SessionDep,
    field,
    render,
)
from gateway.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
)
from gateway.identity.roles import Actor
from gateway.telemetry.hub import AUDIT_FAILURES, Observability

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
STATIC = Path(__file__).parent / "static"
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".svg": "image/svg+xml"}  # fmt: skip
log = structlog.get_logger("gateway.console")
_ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")


def set_cookie(response: Response, name: str, value: str, max_age: int, *, secure: bool) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=COOKIE_PATH, secure=secure, httponly=True,
        samesite="lax",
    )  # fmt: skip


def _forget(response: Response, console: Console, name: str) -> None:
    secure = console.settings.cookie_secure
    response.delete_cookie(name, path=COOKIE_PATH, secure=secure, httponly=True, samesite="lax")


async def _endpoint(console: Console, name: str) -> str | None:
    return oidc.endpoint(await console.verifier.discovery(console.client.issuer), name)


class _Audited(Protocol):
    @property
    def observability(self) -> Observability: ...


async def _audit(request: Request, action: str, actor: Actor) -> None:
    """Sign-ins and sign-outs go into the audit trail under the actor's id (no session id)."""
    resources: _Audited = request.state.resources
    try:
        await resources.observability.audit.record_admin(actor.id, action, tenant=actor.tenant)
    except Exception:  # the audit's own failure counter and log; the sign-in goes on
        AUDIT_FAILURES.inc()
        log.exception("audit.append_failed", action=action)


def _sign_in_failed(message: str) -> AuthenticationFailed:
    return AuthenticationFailed(message, reason="malformed", code="sign_in_failed")


@router.get("/console/auth/login")
async def login(
    request: Request, console: ConsoleDep, next: Annotated[str | None, Query()] = None
) -> Response:
    authorize = await _endpoint(console, "authorization_endpoint")
    if authorize is None:
        raise _sign_in_failed("The identity provider names no authorization endpoint.")
    state, nonce = new_secret(), new_secret()
    verifier, challenge = oidc.pkce_pair()
    expires_at = console.clock() + LOGIN_TTL_S
    sealed = console.logins.seal(LoginState(state, nonce, verifier, safe_next(next), expires_at))
    url = oidc.authorization_url(
        authorize, console.client, console.redirect_uri(request), state, nonce, challenge
    )
    response = RedirectResponse(url, status_code=303)
    set_cookie(response, LOGIN_COOKIE, sealed, LOGIN_TTL_S, secure=console.settings.cookie_secure)
    return response


@router.get(oidc.CALLBACK_PATH)
async def callback(
    request: Request,
    console: ConsoleDep,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    if error is not None:
        shown = error if _ERROR_CODE.match(error) else "error"
        raise _sign_in_failed(f"The identity provider ended the sign-in ({shown}).")
    if not code or not state:
        raise InvalidRequest("The sign-in answer lacks its code or state.")
    login = console.logins.open(request.cookies.get(LOGIN_COOKIE))  # None: forged or expired
    if login is None or not hmac.compare_digest(login.state.encode(), state.encode()):
        raise PermissionDenied(
            "This sign-in was not begun in this browser, or has expired.", code="bad_state"
        )
    if await console.sessions.used(login.state):  # its code does not go to the IdP again
        raise PermissionDenied("This sign-in was already used.", code="bad_state")
    token_endpoint = await _endpoint(console, "token_endpoint")
    if token_endpoint is None:
        raise _sign_in_failed("The identity provider names no token endpoint.")
    id_token = await oidc.exchange_code(
        console.http, token_endpoint, console.client, code, login.verifier,
        console.redirect_uri(request),
    )  # fmt: skip
    verified = await console.verifier.verify(
        id_token, audience=console.client.client_id, nonce=login.nonce
    )
    if verified.issuer.name != console.client.issuer:  # another trusted issuer's token
        raise _sign_in_failed("The ID token is not from the console's identity provider.")
    if not oidc.for_this_client(verified.claims, console.client.client_id):
        raise _sign_in_failed("The ID token was issued to another client.")
    # Only now, with the IdP's word for it, is the state remembered (as used): a replay fails.
    if not await console.sessions.first_use(login.state, login.expires_at - console.clock()):
        raise PermissionDenied("This sign-in was already used.", code="bad_state")
    actor = console.actor_of(verified)
    if not actor.roles:
        raise PermissionDenied("Your account has no role in this console.", code="no_role")
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # a new id at every sign-in: a planted or old id is dropped
        await console.sessions.delete(previous)
    lifetime = console.settings.session_minutes * 60
    session = Session(new_secret(), actor, new_secret(), console.clock() + lifetime, id_token)
    await console.sessions.put(session)
    await _audit(request, "console.sign_in", actor)
    response = RedirectResponse(login.next, status_code=303)
    secure = console.settings.cookie_secure
    set_cookie(response, SESSION_COOKIE, session.id, lifetime, secure=secure)
    _forget(response, console, LOGIN_COOKIE)
    return response


@router.post("/console/auth/logout")
async def logout(
    request: Request, console: ConsoleDep, session: SessionDep, form: FormDep
) -> Response:
    await console.sessions.delete(session.id)
    await _audit(request, "console.sign_out", session.actor)
    try:
        end = await _endpoint(console, "end_session_endpoint")
    except GatewayError:  # the IdP is unreachable: signed out here at least
        end = None
    back = console.base_url(request) + oidc.SIGNED_OUT_PATH
    target = (
        oidc.logout_url(end, console.client, session.id_token, back)
        if end is not None
        else oidc.SIGNED_OUT_PATH
    )
    response = RedirectResponse(target, status_code=303)
    _forget(response, console, SESSION_COOKIE)
    return response


@router.get(oidc.SIGNED_OUT_PATH)
async def signed_out(request: Request, console: ConsoleDep, session: MaybeSessionDep) -> Response:
    return render(request, "signed_out.html", {"title": "signed_out.title"})


@router.post("/console/language")
async def language(request: Request, console: ConsoleDep, session: MaybeSessionDep) -> Response:
    """Signed in: the session's CSRF token as for any POST. Signed out there is no session to
    bind a token to; the same-origin check stands alone (all it sets is a language cookie)."""
    form = await request.form()
    if session is not None:
        sent = form.get("csrf_token")
        token = sent if isinstance(sent, str) else None
        check_post(request.headers, console.origin(request), token, session.csrf)
    elif not same_origin(request.headers, console.origin(request)):
        raise forbidden_cross_site()
    chosen = as_language(field(form, "lang"))
    if chosen is None:
        raise InvalidRequest("Unknown language.", param="lang")
    response = RedirectResponse(safe_next(field(form, "next")), status_code=303)
    secure = console.settings.cookie_secure
    set_cookie(response, LANGUAGE_COOKIE, chosen, 365 * 24 * 3600, secure=secure)
    return response


@router.get("/console/static/{name}")
async def static(name: str, console: ConsoleDep) -> Response:
    kind = _TYPES.get(Path(name).suffix)
    body = _asset(name) if kind is not None else None
    if body is None:
        raise NotFound("No such file.")
    headers = {"cache-control": "public, max-age=3600"}
    return Response(body, media_type=kind, headers=headers)


@cache
def _asset(name: str) -> bytes | None:
    """The file's bytes, read once (a handful of small files)."""
    path = STATIC / name
    return path.read_bytes() if path.parent == STATIC and path.is_file() else None
