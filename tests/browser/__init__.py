"""The console (issue 16) in a real browser: Debian's Chromium driven by Playwright, signed in
through a real OpenID provider (tests/idp: oidc-provider on Node.js), against a gateway process
in front of the real vLLM engine. Screenshots of every page go to tests/browser/screenshots/.

Modules:
    conftest.py           the stack (IdP, Redis, gateway, PostgreSQL schemas) and the browser
    idp.py                the test OpenID provider as a process; machine tokens, key rotation
    pages.py              a person's steps: sign in, confirm, switch language, screenshot
    test_idp.py           the IdP: discovery, PKCE, JWT access tokens, its login form
    test_api_jwt.py       the IdP's JWTs as the openai SDK's api_key; forged ones get 401
    test_console.py       the console's flows per role (platform admin, DPO, tenant admin,
                          auditor), in German and English
    test_console_platform.py  engines and pools as routing sees them; a policy chosen in
                          the console and its findings (types, counts, never values); a
                          new key the back button does not bring back
"""
