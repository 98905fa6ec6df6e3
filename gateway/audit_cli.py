"""``sovereign-gateway audit verify | anchor | purge | erase``: the audit trail from the
command line.

The store is named by ``--dsn`` (PostgreSQL, with ``--schema``/``--table``), ``--file`` (the
JSON Lines sink) or ``--config`` (``telemetry.audit``, else the file in
``telemetry.audit_dir``; with it, ``purge`` applies every tenant's retention). Keys come from
the configuration or the environment, never from the command line (base64, like the
gateway's other keys): the HMAC key to check or sign entries, the subject key to find a data
subject's records. ``erase --subject -``
reads the identifier from stdin, so it stays out of shell history and the process list.
In PostgreSQL, ``verify`` checks every replica's chain and the anchor chain and prints a
summary per chain; ``--anchor SEQ:HASH`` names an anchor recorded elsewhere (the file
store: an entry), ``--anchor CHAIN@SEQ:HASH`` an entry of one chain. What the CLI itself
records (purges, erasures) goes into the chain ``cli``. ``anchor`` commits every chain's
head now (the gateway does it every ``telemetry.audit.anchor_interval``).
With ``--config``, ``erase`` also clears the content log and, with Redis, the subject's
reference in the ledger and the disk spool, and its conversations in the pseudonym vault.

Exit codes: 0 intact or done; 1 the chain has problems (listed); 2 bad usage or
configuration; 3 the store could not be reached or read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import orjson
from pydantic import ValidationError

from gateway.audit.chain import ChainHead
from gateway.audit.file import FILE_NAME, FileAuditStore
from gateway.audit.records import AuditUnavailable
from gateway.audit.service import AuditStore, AuditTrail, ErasureReceipt, parse_key
from gateway.cli_support import CliExit, guarded
from gateway.erasure import register_erasers
from gateway.ledger.durable import DurableLedger
from gateway.metering.service import Metering
from gateway.metering.spool import DiskSpool
from gateway.privacy.service import vault_key
from gateway.quota.clients import close_client, connect
from gateway.quota.memory_store import MemoryQuotaStore
from gateway.quota.redis_store import RedisQuotaStore
from gateway.settings import Settings, load_settings
from gateway.telemetry.content_log import FileContentLog
from gateway.telemetry.hub import content_log_path, subject_key
from policies.pseudonym.redis_vault import RedisPseudonymVault
from policies.pseudonym.vault import MemoryPseudonymVault, PseudonymVault

T = TypeVar("T")

HMAC_KEY_ENV = "SOVEREIGN_TELEMETRY__AUDIT__HMAC_KEY"
CLI_CHAIN = "cli"  # the PostgreSQL chain of what the CLI records (purges, erasures)
SUBJECT_KEY_ENV = "SOVEREIGN_AUDIT__SUBJECT_KEY"


def _explain(exc: Exception) -> tuple[int, str] | None:
    if isinstance(exc, AuditUnavailable):
        return 3, f"error: {exc.message}"
    if isinstance(exc, ValueError):  # bad keys, bad retention
        return 2, f"error: {exc}"
    return None


_guarded = guarded(_explain)


@dataclass(frozen=True, slots=True)
class _Target:
    """The store, the keys and the retention, from the flags or the configuration."""

    dsn: str | None
    file: Path | None
    schema: str
    table: str
    hmac_key: bytes | None
    retention: dict[str, float]  # per tenant, from the configuration
    default_days: float | None  # telemetry.retention_days, from the configuration
    # The gateway's own subject key, derived from the configuration as the gateway does.
    subject_key: bytes | None = None
    settings: Settings | None = None  # with --config: erasure reaches the other stores too


def _key(var: str, what: str, required: bool) -> bytes | None:
    text = os.environ.get(var)
    if not text:
        if required:
            raise CliExit(2, f"error: set the {what} in the environment variable {var}")
        return None
    try:
        return parse_key(text, what)
    except ValueError as exc:
        raise CliExit(2, f"error: {var}: {exc}") from exc


def _target(args: argparse.Namespace) -> _Target:
    if args.config is None:
        if (args.dsn is None) == (args.file is None):
            raise CliExit(2, "error: give one of --config, --dsn or --file")
        hmac_key = _key(args.hmac_key_env, "audit HMAC key", required=False)
        file = Path(args.file) if args.file else None
        return _Target(args.dsn, file, args.schema, args.table, hmac_key, {}, None)
    if args.dsn or args.file:
        raise CliExit(2, "error: use either --config or --dsn/--file, not both")
    try:
        settings = load_settings(Path(args.config))
    except (FileNotFoundError, ValidationError) as exc:
        raise CliExit(2, f"error: configuration {args.config}: {exc}") from exc
    return _from_settings(settings, args)


def _from_settings(settings: Settings, args: argparse.Namespace) -> _Target:
    """``telemetry.audit`` (dsn, else path, else a file under ``telemetry.audit_dir``), its
    HMAC key (the configuration's only, as the gateway sees it: the settings read
    ``SOVEREIGN_TELEMETRY__AUDIT__HMAC_KEY`` themselves), and each tenant's retention
    (``telemetry.retention_days`` by default)."""
    telemetry = settings.telemetry
    sink = telemetry.audit
    dsn = sink.dsn.get_secret_value() if sink and sink.dsn else None
    file = None if dsn else (sink.path if sink and sink.path else telemetry.audit_dir / FILE_NAME)
    hmac_key = None
    if sink and sink.hmac_key:
        try:
            hmac_key = parse_key(sink.hmac_key.get_secret_value(), "HMAC key")
        except ValueError as exc:
            raise CliExit(2, f"error: telemetry.audit.hmac_key: {exc}") from exc
    retention = {t.id: float(t.retention_days) for t in settings.tenants if t.retention_days}
    default = float(telemetry.retention_days)
    return _Target(
        dsn,
        file,
        sink.schema_name if sink and dsn else args.schema,
        args.table,
        hmac_key,
        retention,
        default,
        subject_key(settings),
        settings,
    )


async def _open_store(target: _Target) -> AuditStore:
    if target.dsn:
        from gateway.audit.postgres import PostgresAuditStore  # psycopg only when used

        return await PostgresAuditStore.open(
            target.dsn, schema=target.schema, table=target.table, chain=CLI_CHAIN
        )
    assert target.file is not None
    return FileAuditStore(target.file)


def _run(
    args: argparse.Namespace,
    work: Callable[[AuditTrail, _Target], Awaitable[T]],
    *,
    subject_key: bool = False,
) -> T:
    target = _target(args)
    subject = None
    if subject_key:
        subject = target.subject_key or _key(
            args.subject_key_env, "audit subject key", required=True
        )

    async def session() -> T:
        trail = AuditTrail(await _open_store(target), target.hmac_key, subject)
        try:
            return await work(trail, target)
        finally:
            await trail.close()

    return asyncio.run(session())


@_guarded
def _verify(args: argparse.Namespace) -> int:
    pins = dict(args.anchor or [])
    anchor = pins.pop(None, None)
    chains = {chain: head for chain, head in pins.items() if chain is not None}
    report = _run(args, lambda trail, _: trail.verify(anchor=anchor, chain_pins=chains))
    print(report.summary())
    return 0 if report.ok else 1


@_guarded
def _anchor_now(args: argparse.Namespace) -> int:
    entry = _run(args, lambda trail, _: trail.anchor())
    if entry is None:
        print("no anchor: no chain moved since the last one (or the store keeps one chain)")
    else:
        print(f"anchor {entry.seq}:{entry.hash}, {len(entry.leaves)} chain head(s) moved")
    return 0


@_guarded
def _purge(args: argparse.Namespace) -> int:
    if (args.tenant is None) != (args.older_than_days is None):
        raise CliExit(2, "error: give --tenant and --older-than-days together")
    if args.tenant is None and args.config is None:
        raise CliExit(2, "error: give --tenant and --older-than-days, or --config (every tenant)")

    def purge(trail: AuditTrail, target: _Target) -> Awaitable[dict[str, int]]:
        if args.tenant is not None:
            return trail.purge_expired({args.tenant: args.older_than_days}, actor="cli")
        return trail.purge_expired(target.retention, default_days=target.default_days, actor="cli")

    for tenant, count in _run(args, purge).items():
        print(f"tenant {tenant}: pruned {count} entries past its retention")
    return 0


@_guarded
def _erase(args: argparse.Namespace) -> int:
    subject = sys.stdin.readline().strip() if args.subject == "-" else args.subject
    if not subject:
        raise CliExit(2, "error: the subject is empty")

    async def erase(trail: AuditTrail, target: _Target) -> ErasureReceipt:
        async with AsyncExitStack() as stack:
            if target.settings is not None:
                await _register_stores(trail, target.settings, stack)
            return await trail.erase(subject, actor="cli")

    receipt = _run(args, erase, subject_key=True)
    print(orjson.dumps(receipt.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode())
    return 0


async def _register_stores(trail: AuditTrail, settings: Settings, stack: AsyncExitStack) -> None:
    """With ``--config``, erasure reaches what the gateway keeps outside the audit trail: the
    content log, the batch store (gateway/batches), and with Redis the shared ledger, this
    host's disk spool and the pseudonym vault. An embedded gateway's ledger and vault live in
    its process: the admin API (``POST /admin/v1/subjects/erase``) reaches those."""
    content_log = FileContentLog(content_log_path(settings))
    stack.push_async_callback(content_log.close)
    trail.add_eraser("content_log", lambda _raw, ref: content_log.erase(ref))
    if settings.batches.store is not None:  # files and batches about the subject
        from gateway.batches.build import open_store

        batches = await open_store(settings.batches.store)
        stack.push_async_callback(batches.close)
        trail.add_eraser("batches", lambda _raw, ref: batches.erase_subject(ref))
    target = settings.store.redis
    if target is None:
        print(
            "note: embedded store: erase through the running gateway's admin API to reach "
            "its in-process ledger and pseudonym vault",
            file=sys.stderr,
        )
        return
    redis = connect(target, socket_timeout=30.0, connect_timeout=5.0, retries=3)
    stack.push_async_callback(close_client, redis)
    ledger = None
    if settings.metering.ledger_dsn is not None:  # the durable ledger and the streams to it
        dsn = settings.metering.ledger_dsn.get_secret_value()
        ledger = DurableLedger(redis, dsn, "audit-cli", schema_name=settings.metering.ledger_schema)
        stack.push_async_callback(ledger.close)
    metering = Metering(
        RedisQuotaStore(redis, settings.store.lease_seconds),
        MemoryQuotaStore(settings.store.lease_seconds),
        DiskSpool(settings.metering.spool_dir, "audit-cli"),
        ledger=ledger,
    )
    ttl = settings.privacy.vault_ttl_seconds
    try:
        vault: PseudonymVault = RedisPseudonymVault(redis, vault_key(settings, True), ttl)
    except ValueError:  # no vault key: the gateway cannot have pseudonymised anything
        vault = MemoryPseudonymVault(ttl)
    register_erasers(trail, metering, vault)


def _anchor(text: str) -> tuple[str | None, ChainHead]:
    chain, at, pinned = text.rpartition("@")
    seq, _, hash_hex = pinned.partition(":")
    if not seq.isdigit() or len(hash_hex) != 64 or (at and not chain):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not [CHAIN@]SEQ:HASH (as `audit verify` prints)"
        )
    return (chain or None), ChainHead(seq=int(seq), hash=hash_hex)


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: give a positive number of days")
    return value


def _store_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("the audit store (one of --config, --dsn, --file)")
    group.add_argument("--config", help="the gateway's YAML configuration (its audit section)")
    group.add_argument("--dsn", help="PostgreSQL connection string")
    group.add_argument("--file", help="the JSON Lines audit file")
    group.add_argument("--schema", default="public", help="PostgreSQL schema (default public)")
    group.add_argument("--table", default="audit_log", help="table (default audit_log)")
    parent.add_argument(
        "--hmac-key-env",
        default=HMAC_KEY_ENV,
        metavar="VAR",
        help=f"environment variable holding the HMAC key (default {HMAC_KEY_ENV})",
    )
    parent.add_argument(
        "--subject-key-env",
        default=SUBJECT_KEY_ENV,
        metavar="VAR",
        help=f"environment variable holding the subject key (default {SUBJECT_KEY_ENV})",
    )
    return parent


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit verify | anchor | purge | erase`` to the CLI."""
    store = _store_parent()
    audit_p = sub.add_parser("audit", help="the audit trail: verify, purge, erase a subject")
    audit_sub = audit_p.add_subparsers(dest="audit_command", required=True)

    verify_p = audit_sub.add_parser(
        "verify", parents=[store], help="check the chain: exit 0 intact, 1 with the problems"
    )
    verify_p.add_argument(
        "--anchor",
        type=_anchor,
        action="append",
        metavar="[CHAIN@]SEQ:HASH",
        help="an anchor (PostgreSQL; the file store: an entry), or with CHAIN@ an entry of "
        "that chain, recorded earlier (from a previous verify) that must still be there",
    )
    verify_p.set_defaults(func=_verify)

    anchor_p = audit_sub.add_parser(
        "anchor", parents=[store], help="commit every chain's head in the anchor chain now"
    )
    anchor_p.set_defaults(func=_anchor_now)

    purge_p = audit_sub.add_parser(
        "purge",
        parents=[store],
        help="the retention job: prune entries older than their tenant's retention",
    )
    purge_p.add_argument("--tenant", help="one tenant (default, with --config: every tenant)")
    purge_p.add_argument("--older-than-days", type=_days, metavar="N")
    purge_p.set_defaults(func=_purge)

    erase_p = audit_sub.add_parser(
        "erase", parents=[store], help="GDPR Art. 17: erase a data subject; print the receipt"
    )
    erase_p.add_argument(
        "--subject", required=True, help="the OpenAI `user` value or subject header ('-': stdin)"
    )
    erase_p.set_defaults(func=_erase)
