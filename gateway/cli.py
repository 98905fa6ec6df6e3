"""``sovereign-gateway``: serve, quick mode, key tools, the admin and audit commands; the
development commands (``run-local``, ``capacity``) plug in through the
``sovereign_gateway.commands`` entry points (pyproject.toml), from their own packages."""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
import orjson
from fastapi import FastAPI
from pydantic import SecretStr

from gateway import admin_cli, audit_cli
from gateway.app import create_app
from gateway.auth import hash_key, new_key
from gateway.provenance import cli as provenance_cli
from gateway.provenance.keys import ephemeral_key, private_pem
from gateway.provenance.settings import ProvenanceKey
from gateway.server import run_server, server_config
from gateway.settings import LimitsSettings, Settings, load_settings
from gateway.telemetry.logs import configure_logging
from gateway.telemetry.residency import SinkOutsideJurisdiction, check_residency

_WORKER_SETTINGS_ENV = "SOVEREIGN_GATEWAY_WORKER_SETTINGS"


def quick_settings(
    engine_url: str,
    api_key: str,
    models: list[str],
    policy: str | None = "gdpr-default",
    **server: Any,
) -> Settings:
    """One pool in DE holding one engine, one tenant holding one key (hashed at once), the
    named GDPR policy preset (``None``: no filtering)."""
    return Settings(
        server={k: v for k, v in server.items() if v is not None},
        privacy={"default_policy": policy},
        pools=[
            {
                "name": "local",
                "jurisdiction": "DE",
                "site": "local",
                "gpu": "cpu",
                "engines": [engine_url],
                "models": models,
            }
        ],
        tenants=[{"id": "default", "api_keys": [{"id": "cli", "hash": hash_key(api_key)}]}],
    )


def discover_models(engine_url: str, timeout: float = 10.0) -> list[str]:
    response = httpx.get(engine_url.rstrip("/") + "/v1/models", timeout=timeout, trust_env=False)
    response.raise_for_status()
    models = [str(m["id"]) for m in response.json().get("data", [])]
    if not models:
        raise SystemExit(f"the engine at {engine_url} serves no models")
    return models


def serve(settings: Settings) -> None:
    """uvicorn with the gateway's limits on request heads and idle connections
    (``gateway.server``), for one worker or several."""
    configure_logging(settings)  # JSON lines to the declared log sink (or stdout)
    if settings.server.workers == 1:
        run_server(server_config(create_app(settings), settings.server))
        return
    # Worker processes rebuild the app from the settings main() validated, passed by env.
    os.environ[_WORKER_SETTINGS_ENV] = orjson.dumps(_dump_with_secrets(settings)).decode()
    run_server(server_config("gateway.cli:worker_app", settings.server, factory=True))


def worker_app() -> FastAPI:
    data = orjson.loads(os.environ[_WORKER_SETTINGS_ENV])
    settings = Settings.model_validate(data)
    configure_logging(settings)
    return create_app(settings)


def _dump_with_secrets(settings: Settings) -> dict[str, Any]:
    """The settings as JSON for the worker processes, secrets included (the pepper, the
    engines' keys): ``model_dump(mode="json")`` would mask them."""

    def reveal(value: object) -> object:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        return str(value)  # paths, URLs

    data: dict[str, Any] = orjson.loads(
        orjson.dumps(settings.model_dump(mode="python"), default=reveal)
    )
    return data


def check_replicas(settings: Settings) -> None:
    """Several workers without Redis would each keep their own limits and admin changes."""
    if settings.server.workers == 1 or settings.store.redis_url is not None:
        return
    limited = any(
        t.limits != LimitsSettings() or any(k.limits for k in t.api_keys) for t in settings.tenants
    )
    if limited or settings.admin.token_hash:
        raise SystemExit(
            f"{settings.server.workers} workers share nothing without Redis: each would "
            "enforce the whole limits on its own and see only its own admin changes. "
            "Set store.redis_url, or run one worker (the embedded store serves one process)."
        )


def _cmd_serve(args: argparse.Namespace) -> int:
    server = {"host": args.host, "port": args.port, "workers": args.workers}
    if args.config:
        if args.engine or args.api_key or args.policy:
            raise SystemExit("use either --config or --engine/--api-key/--policy, not both")
        overrides = {k: v for k, v in server.items() if v is not None}
        base = load_settings(Path(args.config))
        settings = base.model_copy(update={"server": base.server.model_copy(update=overrides)})
    elif args.engine and args.api_key:
        models = discover_models(args.engine)
        policy = None if args.policy == "none" else (args.policy or "gdpr-default")
        settings = quick_settings(args.engine, args.api_key, models, policy, **server)
        print(
            f"quick mode: engine {args.engine}, models {', '.join(models)}, jurisdiction DE, "
            f"policy {policy or 'none'}"
        )
    else:
        raise SystemExit("give --config FILE, or --engine URL and --api-key KEY")
    if args.provenance:
        settings = with_provenance(settings)
    check_replicas(settings)
    try:
        check_residency(settings)
    except SinkOutsideJurisdiction as refused:
        print(f"sovereign-gateway: {refused}", file=sys.stderr)
        return 2
    print(f"serving on http://{settings.server.host}:{settings.server.port}/v1", flush=True)
    serve(settings)
    return 0


def with_provenance(settings: Settings) -> Settings:
    """Every answer signed (``gateway/provenance``); with no key configured, an ephemeral
    Ed25519 key made here, so that every worker signs with the same one."""
    section = settings.provenance
    update: dict[str, Any] = {"default": "on"}
    if not section.keys:
        key = ephemeral_key()
        update["keys"] = [ProvenanceKey(kid=key.kid, private_key=SecretStr(private_pem(key)))]
        print(f"provenance: ephemeral signing key {key.kid} (tokens verify while it runs)")
    return settings.model_copy(update={"provenance": section.model_copy(update=update)})


def _cmd_keys(args: argparse.Namespace) -> int:
    pepper = os.environ.get(args.pepper_env, "").encode() or None
    if args.keys_command == "vault":
        print(base64.b64encode(secrets.token_bytes(32)).decode())
        print(
            "Set it as SOVEREIGN_SECURITY__PSEUDONYM_KEY on every replica.",
            file=sys.stderr,
        )
        return 0
    if args.keys_command == "new":
        key = new_key()
        print(f"key:  {key}\nhash: {hash_key(key, pepper)}")
        print("Store the hash in the configuration; the key is shown only now.", file=sys.stderr)
    else:
        key = sys.stdin.readline().strip() if args.key == "-" else args.key
        print(hash_key(key, pepper))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sovereign-gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve_p = sub.add_parser("serve", help="run the gateway")
    serve_p.add_argument("--config", help="YAML configuration file")
    serve_p.add_argument("--engine", help="quick mode: one vLLM engine base URL")
    serve_p.add_argument("--api-key", help="quick mode: the one API key accepted")
    serve_p.add_argument(
        "--policy",
        help="quick mode: the GDPR policy preset (default gdpr-default; 'none' turns it off)",
    )
    serve_p.add_argument(
        "--provenance",
        action="store_true",
        help="sign every answer (x-sovereign-provenance); an ephemeral key if none is set",
    )
    serve_p.add_argument("--host")
    serve_p.add_argument("--port", type=int)
    serve_p.add_argument("--workers", type=int)
    serve_p.set_defaults(func=_cmd_serve)

    keys_p = sub.add_parser("keys", help="make API keys and their hashes")
    keys_p.add_argument(
        "--pepper-env",
        default="SOVEREIGN_SECURITY__KEY_PEPPER",
        help="environment variable holding the key pepper (default: the gateway's own)",
    )
    keys_sub = keys_p.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser("new", help="generate a key; print it once with its hash")
    keys_sub.add_parser("vault", help="generate a pseudonym-vault key (base64, 32 bytes)")
    hash_p = keys_sub.add_parser("hash", help="print the hash of KEY ('-' reads stdin)")
    hash_p.add_argument("key")
    keys_p.set_defaults(func=_cmd_keys)

    # Store-backed admin commands (gateway/admin_cli.py): tenants, usage, and
    # keys issue|list|rotate|revoke next to `keys new` and `keys hash`.
    admin_cli.register(sub, keys_sub)
    audit_cli.register(sub)
    provenance_cli.register(sub)  # provenance verify: gateway/provenance/cli.py
    # End of the admin commands.

    # Development commands (run-local, capacity) come from their own packages as plugins.
    for command in entry_points(group="sovereign_gateway.commands"):
        command.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
