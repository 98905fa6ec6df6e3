"""The operator console at ``/console``: server-rendered pages over the admin service, with
OpenID Connect sign-in, in German and English.

Why this technology: Jinja2 templates rendered by the gateway (Starlette's
``Jinja2Templates``; jinja2 was already installed) and a few lines of vanilla JavaScript that
no flow depends on. Charts are inline SVG computed on the server. Nothing is built, bundled
or fetched from a CDN: every asset is a file in ``static/`` served by the gateway itself, so a
strict Content-Security-Policy (``'self'`` only, no inline script) holds, the console works in
an air-gapped data centre, and its dependencies are the gateway's own. A single-page app
would add a JavaScript toolchain, an API surface for it and a second place for permission
checks; here every decision stays in ``gateway.admin.service``.

::

    settings.py      the ``console`` section (enabled, issuer, client, session length, language)
    runtime.py       ``Console``: what the lifespan builds (session store, OIDC client, templates)
    sessions.py      sessions (and used sign-in states), server side: Redis (shared) or memory
    login_state.py   a sign-in under way, sealed (AES-GCM) in the browser's cookie
    oidc.py          authorization code + PKCE (S256): URLs, code exchange; pure but one call
    guard.py         return paths (no open redirect), CSRF and origin checks, security headers
    error_pages.py   errors as translated pages: which message, which status, the detail folded
    web.py           route class (headers, errors as pages), session/form dependencies, render
    i18n.py          catalogues (messages/de.json, en.json) and the request's language
    formats.py       numbers and times as a page shows them (template filters)
    period.py        the whole UTC days a page covers
    charts.py        bars and lines as geometry for the SVG macro (templates/charts.html)
    routes.py        the one router app.py includes
    auth_routes.py   sign-in, callback, sign-out, language switch, static files
    pages.py         overview, engines and pools, policies in force
    tenant_pages.py  tenants, limits, policy, keys (issued and rotated keys shown once)
    usage_pages.py   usage charts, table and CSV export
    audit_pages.py   chain verification, records, erasure requests and receipts
    templates/       Jinja2 pages (every element H4's browser tests use has a data-testid)
    static/          console.css, console.js
"""
