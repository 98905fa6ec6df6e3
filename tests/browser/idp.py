"""The test OpenID provider (tests/idp/server.mjs, oidc-provider on Node.js) as a process.

Its accounts, clients and claims are described in server.mjs; ``make install`` (target
``browser-deps``) puts its npm packages in tests/idp/node_modules.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.launcher import launch, stop

IDP_DIR = Path(__file__).resolve().parent.parent / "idp"
PASSWORD_SUFFIX = "-password"  # alice signs in with "alice-password"
MACHINE_CLIENT = "acme-machine"  # the machine client of ``tenant``; secret "<id>-secret"
API_AUDIENCE = "sovereign-gateway"


@dataclass(frozen=True)
class IdentityProvider:
    issuer: str  # exactly the tokens' ``iss``: http://127.0.0.1:<port>, no trailing slash
    tenant: str  # tom's tenant and the machine client's (their tokens' sg_tenant)
    process: subprocess.Popen[str]

    def machine_token(self, client: str = MACHINE_CLIENT) -> str:
        """A client_credentials access token (a JWT for the gateway's API) of a machine
        client (acme-machine: of ``tenant``; others as given to ``identity_provider``)."""
        answer = httpx.post(
            self.issuer + "/token",
            data={"grant_type": "client_credentials"},
            auth=(client, client + "-secret"),
            timeout=10,
        )
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token

    def rotate_keys(self) -> str:
        """A new signing key (the old one stays published); returns its kid."""
        answer = httpx.post(self.issuer + "/admin/rotate-keys", timeout=10)
        answer.raise_for_status()
        kid: str = answer.json()["kid"]
        return kid


@contextmanager
def identity_provider(
    log_path: Path,
    *,
    redirect_uri: str,
    post_logout_uri: str,
    tenant: str,
    machines: dict[str, str] | None = None,
) -> Iterator[IdentityProvider]:
    """The IdP on a free port of 127.0.0.1 until the block ends; ``machines``: more machine
    clients, ``{client id: tenant}``. Fails (never skips) when Node.js or the IdP's packages
    are missing."""
    node = shutil.which("node")
    if node is None or not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("the test OpenID provider is not installed: run `make install`")
    argv = [node, str(IDP_DIR / "server.mjs"), "--redirect-uri", redirect_uri,
            "--post-logout-redirect-uri", post_logout_uri, "--tenant", tenant]  # fmt: skip
    for client, its_tenant in (machines or {}).items():
        argv += ["--machine", f"{client}={its_tenant}"]
    log = open(log_path, "w")  # noqa: SIM115 (closed when the block ends)
    process: subprocess.Popen[str] = launch(
        argv, stdout=subprocess.PIPE, stderr=log, text=True, cwd=IDP_DIR
    )
    try:
        issuer = _wait_ready(process, log_path)
        yield IdentityProvider(issuer, tenant, process)
    finally:
        stop(process, 10)
        log.close()


def _wait_ready(process: subprocess.Popen[str], log_path: Path) -> str:
    """The issuer from the ready line (``{"ready": true, "issuer": ...}``) on stdout; the
    rest of stdout is drained until the process ends (a full pipe would stall the IdP)."""
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if not ready.is_set() and line.startswith("{") and json.loads(line).get("ready"):
                found.append(json.loads(line)["issuer"])
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(30):
        process.kill()
        raise RuntimeError("the test IdP did not start:\n" + log_path.read_text())
    return found[0]
