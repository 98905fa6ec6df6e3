"""``sovereign-gateway tenants | keys issue|list|rotate|revoke | usage export``.

The same ``TenantAdmin`` service as the admin API, run against the shared store named in the
configuration (``store.redis_url``): every replica picks a change up within a second. Without
Redis there is nothing to connect to (the embedded store lives inside the one gateway process),
so these commands refuse and point at the admin API.

Exit codes: 0 done, 1 refused by the service (unknown tenant, duplicate id...) or Redis
unreachable, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import orjson
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError

from gateway.cli_support import CliExit, guarded
from gateway.core.limits import Limits
from gateway.core.tenant import TenantSpec
from gateway.core.usage import UsageRecord
from gateway.errors import GatewayError
from gateway.identity.roles import CLI
from gateway.ledger.postgres import PostgresLedger
from gateway.privacy.catalogue import PolicyCatalogue
from gateway.quota.clients import close_client, connect
from gateway.settings import Settings, load_settings
from gateway.telemetry.hub import open_audit_trail
from gateway.tenancy.admin import TenantAdmin
from gateway.tenancy.records import KeyRecord
from gateway.tenancy.store import RedisDirectoryStore
from gateway.usage_export import FORMATS, Format, export, time_range

T = TypeVar("T")


EMBEDDED_STORE = (
    "error: the configuration sets no store.redis_url, so tenants, keys and usage live in the "
    "embedded store inside the one gateway process, out of this command's reach. Use the "
    "admin API of the running gateway (/admin/v1), or configure Redis."
)
_JURISDICTION = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True, slots=True)
class _Services:
    tenants: TenantAdmin
    ledger: PostgresLedger | None  # the durable ledger (metering.ledger_dsn), if configured


def _settings(config: str) -> Settings:
    try:
        settings = load_settings(Path(config))
    except FileNotFoundError as exc:
        raise CliExit(2, f"error: {exc}") from exc
    except ValidationError as exc:
        raise CliExit(2, f"error: invalid configuration {config}: {_describe(exc)}") from exc
    if settings.store.redis_url is None:
        raise CliExit(2, EMBEDDED_STORE)
    return settings


async def _session(settings: Settings, work: Callable[[_Services], Awaitable[T]]) -> T:
    assert settings.store.redis is not None
    redis = connect(settings.store.redis, socket_timeout=10.0, connect_timeout=5.0, retries=3)
    pepper = settings.security.key_pepper
    trail = await open_audit_trail(settings)

    async def audit(
        action: str, tenant: str, target: dict[str, str], fields: list[str], *, actor: str
    ) -> None:
        # The same record the admin API writes, with the CLI as the actor.
        await trail.record_admin(actor, action, tenant=tenant, target=target, fields=fields)

    try:
        tenants = TenantAdmin(
            RedisDirectoryStore(redis),
            pepper.get_secret_value().encode() if pepper else None,
            PolicyCatalogue.from_settings(settings).policies,
            audit=audit,
        )
        metering = settings.metering
        dsn = metering.ledger_dsn
        ledger = PostgresLedger(dsn.get_secret_value(), metering.ledger_schema) if dsn else None
        try:
            return await work(_Services(tenants, ledger))
        finally:
            if ledger is not None:
                await ledger.close()
    finally:
        await close_client(redis)
        await trail.close()


def _call(args: argparse.Namespace, work: Callable[[_Services], Awaitable[T]]) -> T:
    return asyncio.run(_session(_settings(args.config), work))


def _explain(exc: Exception) -> tuple[int, str] | None:
    if isinstance(exc, GatewayError):
        return (2 if exc.status == 400 else 1), f"error: {exc.message}"
    if isinstance(exc, ValidationError):
        return 2, f"error: {_describe(exc)}"
    if isinstance(exc, RedisError):
        return 1, f"error: the store (Redis) failed: {exc}"
    if isinstance(exc, OSError):
        return 1, f"error: {exc}"
    return None


_guarded = guarded(_explain)


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
    )


def _iso(unix_s: float) -> str:
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).isoformat(timespec="seconds")


def _print_json(model: BaseModel) -> None:
    print(orjson.dumps(model.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode())


def _limits(args: argparse.Namespace) -> Limits | None:
    given = {
        "requests_per_minute": args.rpm,
        "tokens_per_minute": args.tpm,
        "concurrent": args.concurrent,
        "monthly_tokens": args.monthly_tokens,
    }
    values = {k: v for k, v in given.items() if v is not None}
    return Limits(**values) if values else None


def _key_status(key: KeyRecord, now: float) -> str:
    if key.revoked_at is None:
        return "active"
    if key.active(now):
        return f"active until {_iso(key.revoked_at)}"
    return f"revoked {_iso(key.revoked_at)}"


# Tenants


def _tenant_spec(args: argparse.Namespace) -> TenantSpec:
    given = {
        "id": args.tenant,
        "allowed_jurisdictions": args.jurisdictions,
        "allowed_models": args.models,
        "limits": _limits(args),
        "degraded_mode": args.degraded_mode,
        "policy": args.policy,
        "retention_days": args.retention_days,
        "ai_act_marker": args.ai_act_marker or None,
        "on_client_disconnect": args.on_client_disconnect,
    }
    return TenantSpec(**{k: v for k, v in given.items() if v is not None})


@_guarded
def _tenants_create(args: argparse.Namespace) -> int:
    record = _call(
        args,
        lambda s: s.tenants.create_tenant(_tenant_spec(args), actor=CLI.id),
    )
    _print_json(record)
    return 0


@_guarded
def _tenants_list(args: argparse.Namespace) -> int:
    tenants = _call(args, lambda s: s.tenants.tenants())
    print("id\tjurisdictions\tmodels\tdegraded_mode\tpolicy")
    for t in tenants:
        jurisdictions, models = ",".join(t.allowed_jurisdictions), ",".join(t.allowed_models)
        policy = t.policy or "(default)"
        print(f"{t.id}\t{jurisdictions}\t{models}\t{t.degraded_mode}\t{policy}")
    return 0


@_guarded
def _tenants_show(args: argparse.Namespace) -> int:
    _print_json(_call(args, lambda s: s.tenants.tenant(args.tenant)))
    return 0


# Keys (``keys new`` and ``keys hash`` live in gateway.cli and need no store)


@_guarded
def _keys_issue(args: argparse.Namespace) -> int:
    record, key = _call(
        args, lambda s: s.tenants.issue_key(args.tenant, args.id, _limits(args), actor=CLI.id)
    )
    print(key)
    print(
        f"issued key {record.id} for tenant {record.tenant}; the key is shown only now",
        file=sys.stderr,
    )
    return 0


@_guarded
def _keys_list(args: argparse.Namespace) -> int:
    keys = _call(args, lambda s: s.tenants.keys(args.tenant))
    now = dt.datetime.now(dt.UTC).timestamp()
    print("id\thint\tcreated\tstatus")
    for k in keys:
        print(f"{k.id}\t...{k.hint}\t{_iso(k.created_at)}\t{_key_status(k, now)}")
    return 0


@_guarded
def _keys_rotate(args: argparse.Namespace) -> int:
    async def rotate(s: _Services) -> tuple[KeyRecord, str, KeyRecord]:
        record, key = await s.tenants.rotate_key(
            args.tenant, args.key_id, args.grace_seconds, actor=CLI.id
        )
        old = next(k for k in await s.tenants.keys(args.tenant) if k.id == args.key_id)
        return record, key, old

    record, key, old = _call(args, rotate)
    print(key)
    assert old.revoked_at is not None
    print(
        f"issued key {record.id} for tenant {record.tenant}; the key is shown only now. "
        f"Key {old.id} stops working at {_iso(old.revoked_at)}",
        file=sys.stderr,
    )
    return 0


@_guarded
def _keys_revoke(args: argparse.Namespace) -> int:
    record = _call(
        args,
        lambda s: s.tenants.revoke_key(args.tenant, args.key_id, args.after_seconds, actor=CLI.id),
    )
    assert record.revoked_at is not None
    print(f"key {record.id} of tenant {record.tenant} revoked at {_iso(record.revoked_at)}")
    return 0


# Usage


@_guarded
def _usage_export(args: argparse.Namespace) -> int:
    since, until = time_range(args.start, args.end, dt.datetime.now(dt.UTC))

    async def read(s: _Services) -> list[UsageRecord]:
        await s.tenants.tenant(args.tenant)  # a typo is an error, not an empty export
        if s.ledger is None:
            raise CliExit(2, "error: the configuration sets no metering.ledger_dsn (the ledger)")
        return await s.ledger.usage(args.tenant, since.timestamp(), until.timestamp())

    records = _call(args, read)
    fmt = cast(Format, args.format)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            count = export(records, fmt, out)
    else:
        count = export(records, fmt, sys.stdout)
        sys.stdout.flush()
    print(
        f"exported {count} records of tenant {args.tenant}, "
        f"{since.isoformat()} to {until.isoformat()} (exclusive)",
        file=sys.stderr,
    )
    return 0


# Argument types and parsers


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; 0 means no limit")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is not zero or more seconds")
    return value


def _jurisdiction(text: str) -> str:
    if not _JURISDICTION.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 3166-1 alpha-2 code in capitals, such as DE"
        )
    return text


def _store_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config", required=True, help="the gateway's YAML configuration (store.redis_url)"
    )
    return parent


def _limits_parent(whose: str) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group(f"limits of the {whose} (0 or omitted: no limit)")
    group.add_argument("--rpm", type=_count, help="requests per minute")
    group.add_argument("--tpm", type=_count, help="tokens per minute")
    group.add_argument("--concurrent", type=_count, help="requests in flight at once")
    group.add_argument("--monthly-tokens", type=_count, help="tokens per calendar month (UTC)")
    return parent


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    keys_sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add ``tenants``, ``usage`` and the store-backed ``keys`` subcommands to the CLI."""
    store = _store_parent()

    tenants_p = sub.add_parser("tenants", help="create, list and show tenants in the store")
    tenants_sub = tenants_p.add_subparsers(dest="tenants_command", required=True)
    create_p = tenants_sub.add_parser(
        "create", parents=[store, _limits_parent("tenant")], help="add a tenant"
    )
    create_p.add_argument("tenant", metavar="ID")
    create_p.add_argument(
        "--jurisdiction",
        dest="jurisdictions",
        metavar="CODE",
        action="append",
        required=True,
        type=_jurisdiction,
        help="where its requests may be served (repeat for several)",
    )
    create_p.add_argument(
        "--model",
        dest="models",
        metavar="MODEL",
        action="append",
        help="a model it may use (repeat for several; default: every model)",
    )
    create_p.add_argument(
        "--degraded-mode",
        choices=("fail_closed", "fail_open"),
        default="fail_closed",
        help="while Redis is unreachable: refuse (fail_closed) or serve on local limits",
    )
    create_p.add_argument(
        "--policy",
        metavar="ID",
        help="its GDPR policy (a preset such as gdpr-default; default: the gateway's default)",
    )
    create_p.add_argument(
        "--retention-days",
        type=int,
        metavar="N",
        help="audit content and content logs are deleted after N days (default: the gateway's)",
    )
    create_p.add_argument(
        "--ai-act-marker",
        action="store_true",
        help="answers say they are AI-generated (EU AI Act Art. 50)",
    )
    create_p.add_argument(
        "--on-client-disconnect",
        choices=("abort", "finish"),
        help="a client that leaves: stop the engine (abort) or let it complete (finish); "
        "default: the gateway's metering.on_client_disconnect",
    )
    create_p.set_defaults(func=_tenants_create)
    list_p = tenants_sub.add_parser("list", parents=[store], help="list the tenants")
    list_p.set_defaults(func=_tenants_list)
    show_p = tenants_sub.add_parser("show", parents=[store], help="print one tenant as JSON")
    show_p.add_argument("tenant", metavar="ID")
    show_p.set_defaults(func=_tenants_show)

    issue_p = keys_sub.add_parser(
        "issue",
        parents=[store, _limits_parent("key, on top of its tenant's")],
        help="issue a key: the key on stdout (shown once), its id on stderr",
    )
    issue_p.add_argument("tenant", metavar="TENANT")
    issue_p.add_argument("--id", help="the key's id (default: <tenant>-<8 hex>)")
    issue_p.set_defaults(func=_keys_issue)
    klist_p = keys_sub.add_parser("list", parents=[store], help="list a tenant's keys")
    klist_p.add_argument("tenant", metavar="TENANT")
    klist_p.set_defaults(func=_keys_list)
    rotate_p = keys_sub.add_parser(
        "rotate", parents=[store], help="issue a successor (same limits), revoke the old key"
    )
    rotate_p.add_argument("tenant", metavar="TENANT")
    rotate_p.add_argument("key_id", metavar="KEYID")
    rotate_p.add_argument(
        "--grace-seconds",
        type=_seconds,
        default=0.0,
        help="how long the old key keeps working (default: 0, it stops at once)",
    )
    rotate_p.set_defaults(func=_keys_rotate)
    revoke_p = keys_sub.add_parser("revoke", parents=[store], help="revoke a key")
    revoke_p.add_argument("tenant", metavar="TENANT")
    revoke_p.add_argument("key_id", metavar="KEYID")
    revoke_p.add_argument("--after-seconds", type=_seconds, default=0.0, help="default: now")
    revoke_p.set_defaults(func=_keys_revoke)

    usage_p = sub.add_parser("usage", help="the usage ledger")
    usage_sub = usage_p.add_subparsers(dest="usage_command", required=True)
    export_p = usage_sub.add_parser(
        "export", parents=[store], help="write a tenant's ledger records as CSV or JSON Lines"
    )
    export_p.add_argument("--tenant", required=True)
    export_p.add_argument(
        "--from",
        dest="start",
        help="ISO date (midnight UTC) or date and time; default: start of this UTC month",
    )
    export_p.add_argument("--to", dest="end", help="exclusive, like --from; default: now")
    export_p.add_argument("--format", choices=FORMATS, default="csv")
    export_p.add_argument("--output", help="file to write (default: stdout)")
    export_p.set_defaults(func=_usage_export)
