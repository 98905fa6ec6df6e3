"""What every console route shares: its route class (security headers, errors as HTML pages),
the session and form dependencies, and page rendering with the request's language.

Errors: a route raises from gateway/errors.py's tree as the API does; here they become an
HTML page with the same status (403, 404, 400, ...) in the visitor's language, never JSON
(the message: error_pages.py).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from gateway.admin.service import AdminService
from gateway.console.error_pages import error_view
from gateway.console.guard import check_post, safe_next, security_headers
from gateway.console.i18n import LANGUAGE_COOKIE, Translator, negotiate
from gateway.console.runtime import Console
from gateway.console.sessions import Session
from gateway.console.settings import Language
from gateway.errors import GatewayError, InvalidRequest, NotFound, PermissionDenied
from gateway.identity.roles import Actor, Permission

SESSION_COOKIE = "sg_console"
LOGIN_COOKIE = "sg_console_login"  # binds a sign-in under way to the browser that began it
COOKIE_PATH = "/console"
NAV: tuple[tuple[str, str, tuple[Permission, ...]], ...] = (
    ("overview", "/console", ()),
    ("tenants", "/console/tenants", (Permission.TENANTS_READ,)),
    ("usage", "/console/usage", (Permission.USAGE_READ,)),
    ("engines", "/console/engines", (Permission.ENGINES_READ,)),
    ("policies", "/console/policies", (Permission.POLICY_READ,)),
    ("audit", "/console/audit", (Permission.AUDIT_READ, Permission.ERASURE)),
)


class SignInRequired(Exception):
    """No (live) session: a GET goes to the sign-in, a POST is refused."""


def may_somewhere(actor: Actor, permission: Permission) -> bool:
    """Across tenants, or at least on the actor's own tenant."""
    return actor.may(permission) or (
        actor.tenant is not None and actor.may(permission, actor.tenant)
    )


def nav_for(actor: Actor | None) -> list[tuple[str, str]]:
    if actor is None:
        return []
    return [
        (name, path)
        for name, path, needs in NAV
        if not needs or any(may_somewhere(actor, p) for p in needs)
    ]


async def console_of(request: Request) -> Console:
    console: Console | None = getattr(request.state.resources, "console", None)
    if console is None:
        raise NotFound("Unknown request URL. See the OpenAI API reference for valid paths.")
    request.state.console = console
    return console


ConsoleDep = Annotated[Console, Depends(console_of)]


async def optional_session(request: Request, console: ConsoleDep) -> Session | None:
    session_id = request.cookies.get(SESSION_COOKIE)
    session = await console.sessions.get(session_id) if session_id else None
    if session is not None and session.expires_at <= console.clock():
        session = None
    request.state.console_session = session
    return session


async def require_session(session: Annotated[Session | None, Depends(optional_session)]) -> Session:
    if session is None:
        raise SignInRequired
    return session


SessionDep = Annotated[Session, Depends(require_session)]
MaybeSessionDep = Annotated[Session | None, Depends(optional_session)]


async def checked_form(request: Request, console: ConsoleDep, session: SessionDep) -> FormData:
    """The POSTed form, once it has shown the session's CSRF token from our own origin."""
    form = await request.form()
    sent = form.get("csrf_token")
    check_post(request.headers, console.origin(request), sent if isinstance(sent, str) else None,
               session.csrf)  # fmt: skip
    return form


FormDep = Annotated[FormData, Depends(checked_form)]


async def admin_service(request: Request) -> AdminService:
    """Administration, permission-checked per call (gateway/admin/service.py)."""
    return AdminService(request.state.resources)


AdminDep = Annotated[AdminService, Depends(admin_service)]


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def language_of(request: Request, console: Console) -> Language:
    return negotiate(
        request.cookies.get(LANGUAGE_COOKIE),
        request.headers.get("accept-language"),
        console.settings.default_language,
    )


def here(request: Request) -> str:
    query = request.url.query
    return safe_next(request.url.path + ("?" + query if query else ""))


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> Response:
    console: Console = request.state.console
    session: Session | None = getattr(request.state, "console_session", None)
    actor = session.actor if session is not None else None
    language = language_of(request, console)
    values: dict[str, Any] = {
        "t": Translator(language),
        "lang": language,
        "actor": actor,
        "csrf": session.csrf if session is not None else "",
        "nav": nav_for(actor),
        "here": here(request) if request.method == "GET" else "/console",
        "section": "",
        "title_args": {},
        "flash": None,
        **(context or {}),
    }
    return console.templates.TemplateResponse(request, name, values, status_code=status)


def _error_page(request: Request, error: GatewayError) -> Response:
    view = error_view(error)  # a message in the page's language; the backend's one folded
    context = {"title": f"error.{view.reason}.title", "error": view}
    return render(request, "error.html", context, status=error.status_code)


def _sign_in(request: Request) -> Response:
    if request.method != "GET":
        denied = PermissionDenied("Your session has ended; sign in again.", code="no_session")
        return _error_page(request, denied)
    target = "/console/auth/login?next=" + quote(here(request), safe="")
    return RedirectResponse(target, status_code=303)


class ConsoleRoute(APIRoute):
    """Every answer wears the security headers; errors become pages (in one place)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                response = _sign_in(request)
            except RequestValidationError as exc:
                invalid = InvalidRequest("The form or query is not valid.", param=_field(exc))
                response = _page_or_json(request, invalid)
            except GatewayError as error:
                response = _page_or_json(request, error)
            console: Console | None = getattr(request.state, "console", None)
            csp = console.csp if console is not None else "default-src 'none'"
            for header, value in security_headers(csp).items():
                response.headers.setdefault(header, value)
            return response

        return guarded


def _field(exc: RequestValidationError) -> str | None:
    """The first field at fault, as the form or query names it ("from", "tenant")."""
    for problem in exc.errors():
        where: tuple[object, ...] = tuple(problem.get("loc") or ())
        if len(where) > 1 and isinstance(where[-1], str):
            return where[-1]
    return None


def _page_or_json(request: Request, error: GatewayError) -> Response:
    if getattr(request.state, "console", None) is None:  # console off: as the API answers
        raise error
    return _error_page(request, error)
