"""The admin CLI against the real Redis on 127.0.0.1:6379: tenants, keys, usage export.

Each test uses its own tenant id and removes what it wrote (never a FLUSHDB: others share the
database).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from gateway.admin_cli import EMBEDDED_STORE
from gateway.audit.file import FILE_NAME, FileAuditStore
from gateway.audit.service import AuditTrail
from gateway.auth import hash_key
from gateway.cli import main
from gateway.core.usage import UsageRecord
from gateway.ledger.durable import DurableLedger
from gateway.quota.redis_store import RedisQuotaStore, handoff_key, tenant_base
from gateway.tenancy.records import KeyRecord, TenantRecord
from gateway.tenancy.store import KEYS, TENANTS, VERSION
from tests.ledger_db import PG_DSN, RUN_SCHEMA, metering_section

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    audit_dir = tmp_path / "audit"  # the embedded audit sink: every change is recorded there
    config = {
        "store": {"redis_url": REDIS_URL},
        "metering": metering_section(),  # usage export reads the durable ledger
        "telemetry": {"audit_dir": str(audit_dir)},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def audited(config: Path) -> list[dict[str, object]]:
    """The admin records the CLI wrote (and the chain they are in verifies)."""
    path = config.parent / "audit" / FILE_NAME
    trail = AuditTrail(FileAuditStore(path), None, None)
    report = asyncio.run(trail.verify())
    assert report.ok, report.problems
    entries = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return [{"tenant": e["tenant"], **e["body"]} for e in entries if e["kind"] == "admin"]


@pytest.fixture
def tenant() -> Iterator[str]:
    """A fresh tenant id; afterwards its record, keys and ledger are removed from Redis."""
    tenant_id = "cli-test-" + uuid.uuid4().hex[:12]
    yield tenant_id
    with SyncRedis.from_url(REDIS_URL) as redis:
        for field, value in redis.hgetall(KEYS).items():
            if KeyRecord.model_validate_json(value).tenant == tenant_id:
                redis.hdel(KEYS, field)
        redis.hdel(TENANTS, tenant_id)
        for key in redis.scan_iter(match=f"{tenant_base(tenant_id)}:*".replace("{", "\\{")):
            redis.delete(key)
        redis.incr(VERSION)  # running gateways reload and forget the test tenant


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stored_keys(tenant: str) -> dict[str, KeyRecord]:
    with SyncRedis.from_url(REDIS_URL) as redis:
        found = [KeyRecord.model_validate_json(v) for v in redis.hgetall(KEYS).values()]
    return {k.id: k for k in found if k.tenant == tenant}


def test_tenants_create_list_show(
    capsys: pytest.CaptureFixture[str], config: Path, tenant: str
) -> None:
    code, out, _ = run(
        capsys,
        "tenants",
        "create",
        tenant,
        "--config",
        str(config),
        "--jurisdiction",
        "DE",
        "--jurisdiction",
        "AT",
        "--model",
        "smollm2",
        "--rpm",
        "60",
        "--monthly-tokens",
        "100000",
        "--degraded-mode",
        "fail_open",
        "--policy",
        "contact-centre",
    )
    assert code == 0
    created = TenantRecord.model_validate_json(out)
    assert created.id == tenant
    assert created.allowed_jurisdictions == ["DE", "AT"]
    assert created.allowed_models == ["smollm2"]
    assert created.limits.requests_per_minute == 60
    assert created.limits.monthly_tokens == 100000
    assert created.limits.tokens_per_minute == 0
    assert created.degraded_mode == "fail_open"
    assert created.policy == "contact-centre"
    with SyncRedis.from_url(REDIS_URL) as redis:
        raw = redis.hget(TENANTS, tenant)
    assert raw is not None
    assert TenantRecord.model_validate_json(raw) == created

    code, out, _ = run(capsys, "tenants", "list", "--config", str(config))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "id\tjurisdictions\tmodels\tdegraded_mode\tpolicy"
    assert f"{tenant}\tDE,AT\tsmollm2\tfail_open\tcontact-centre" in lines

    code, out, _ = run(capsys, "tenants", "show", tenant, "--config", str(config))
    assert code == 0
    assert TenantRecord.model_validate_json(out) == created

    code, out, err = run(
        capsys, "tenants", "create", tenant, "--config", str(config), "--jurisdiction", "FR"
    )
    assert code == 1
    assert out == ""
    assert "exists already" in err
    code, _, err = run(capsys, "tenants", "show", tenant + "-nope", "--config", str(config))
    assert code == 1
    assert "No tenant" in err


def test_bad_tenant_arguments_are_usage_errors(
    capsys: pytest.CaptureFixture[str], config: Path, tenant: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["tenants", "create", tenant, "--config", str(config), "--jurisdiction", "de"])
    assert caught.value.code == 2
    assert "ISO 3166-1" in capsys.readouterr().err
    code, _, err = run(
        capsys, "tenants", "create", "bad id", "--config", str(config), "--jurisdiction", "DE"
    )
    assert code == 2
    assert "id:" in err
    with SyncRedis.from_url(REDIS_URL) as redis:
        assert not redis.hexists(TENANTS, tenant)


def test_keys_issue_list_rotate_revoke(
    capsys: pytest.CaptureFixture[str], config: Path, tenant: str
) -> None:
    cfg = ["--config", str(config)]
    assert run(capsys, "tenants", "create", tenant, *cfg, "--jurisdiction", "DE")[0] == 0

    code, out, err = run(
        capsys, "keys", "issue", tenant, *cfg, "--id", f"{tenant}-a", "--tpm", "500"
    )
    assert code == 0
    key = out.strip()
    assert out == key + "\n"  # stdout holds the key and nothing else
    assert key.startswith("sk-sov-")
    assert f"{tenant}-a" in err
    assert key not in err
    stored = stored_keys(tenant)
    assert set(stored) == {f"{tenant}-a"}
    assert stored[f"{tenant}-a"].hash == hash_key(key)
    limits = stored[f"{tenant}-a"].limits
    assert limits is not None
    assert limits.tokens_per_minute == 500

    code, out, _ = run(capsys, "keys", "issue", tenant, *cfg)
    assert code == 0
    second = out.strip()
    (auto_id,) = set(stored_keys(tenant)) - {f"{tenant}-a"}
    assert auto_id.startswith(f"{tenant}-")

    code, out, _ = run(capsys, "keys", "list", tenant, *cfg)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "id\thint\tcreated\tstatus"
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert set(rows) == {f"{tenant}-a", auto_id}
    assert rows[f"{tenant}-a"][1] == "..." + key[-4:]
    assert rows[f"{tenant}-a"][3] == "active"
    assert key not in out
    assert second not in out
    assert "sha256" not in out

    before = time.time()
    code, out, err = run(
        capsys, "keys", "rotate", tenant, f"{tenant}-a", *cfg, "--grace-seconds", "300"
    )
    assert code == 0
    rotated = out.strip()
    assert rotated.startswith("sk-sov-")
    assert rotated not in (key, second)
    assert "stops working at" in err
    keys = stored_keys(tenant)
    (new_id,) = set(keys) - {f"{tenant}-a", auto_id}
    assert keys[new_id].hash == hash_key(rotated)
    assert keys[new_id].limits == keys[f"{tenant}-a"].limits  # the successor keeps the limits
    old_revoked_at = keys[f"{tenant}-a"].revoked_at
    assert old_revoked_at is not None
    assert before + 300 <= old_revoked_at <= time.time() + 300
    code, out, _ = run(capsys, "keys", "list", tenant, *cfg)
    assert "\tactive until " in out

    code, out, _ = run(capsys, "keys", "revoke", tenant, auto_id, *cfg)
    assert code == 0
    assert f"key {auto_id} of tenant {tenant} revoked at " in out
    revoked = stored_keys(tenant)[auto_id]
    assert revoked.revoked_at is not None
    assert not revoked.active(time.time())
    code, out, _ = run(capsys, "keys", "list", tenant, *cfg)
    statuses = {line.split("\t")[0]: line.split("\t")[3] for line in out.splitlines()[1:]}
    assert statuses[auto_id].startswith("revoked ")
    assert statuses[new_id] == "active"

    code, _, err = run(capsys, "keys", "rotate", tenant, auto_id, *cfg)
    assert code == 1
    assert "revoked" in err
    code, _, err = run(capsys, "keys", "revoke", tenant, "no-such-key", *cfg)
    assert code == 1
    assert "no key" in err
    code, _, err = run(capsys, "keys", "issue", tenant + "-nope", *cfg)
    assert code == 1
    assert "No tenant" in err

    # Every change made through the CLI is in the audit trail: who, what, which ids; the keys
    # themselves never.
    records = audited(config)
    assert [(r["actor"], r["action"]) for r in records] == [
        ("cli", "tenant.create"),
        ("cli", "key.issue"),
        ("cli", "key.issue"),
        ("cli", "key.issue"),  # the rotation: a successor is issued ...
        ("cli", "key.revoke"),  # ... and the old key revoked after its grace
        ("cli", "key.revoke"),
    ]
    assert {r["tenant"] for r in records} == {tenant}
    text = (config.parent / "audit" / FILE_NAME).read_text()
    for secret in (key, second, rotated, hash_key(key)):
        assert secret not in text


def test_existing_key_tools_still_work(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOVEREIGN_SECURITY__KEY_PEPPER", raising=False)
    code, out, _ = run(capsys, "keys", "hash", "some-key")
    assert code == 0
    assert out.strip() == hash_key("some-key")
    code, out, _ = run(capsys, "keys", "new")
    assert code == 0
    key_line, hash_line = out.splitlines()
    key = key_line.removeprefix("key:  ")
    assert key.startswith("sk-sov-")
    assert hash_line == f"hash: {hash_key(key)}"


NOV_1 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp()
HOUR = 3600.0


def usage_record(tenant: str, request_id: str, started_at: float, tokens: int) -> UsageRecord:
    return UsageRecord(
        request_id=request_id,
        tenant=tenant,
        key_id=f"{tenant}-k",
        endpoint="chat.completions",
        model="smollm2",
        pool="de-muc",
        site="de-muc-1",
        jurisdiction="DE",
        engine="http://de-1.engine:8000",
        stream=request_id != "r2",
        status="ok" if request_id != "r2" else "aborted",
        http_status=200,
        prompt_tokens=tokens,
        completion_tokens=2 * tokens,
        usage_source="engine",
        estimated_tokens=tokens + 256,
        started_at=started_at,
        ttft_ms=None if request_id == "r2" else 15.5,
        duration_ms=400.0,
        gateway="gw-test",
    )


def export_usage(
    capsys: pytest.CaptureFixture[str], config: Path, tenant: str, *args: str
) -> tuple[int, str, str]:
    return run(capsys, "usage", "export", "--tenant", tenant, "--config", str(config), *args)


async def seed_ledger(records: list[UsageRecord]) -> None:
    """Metered as a gateway meters, then shipped from Redis into the durable ledger."""
    redis = Redis.from_url(REDIS_URL)
    durable = DurableLedger(redis, PG_DSN, "admin-cli-test", schema_name=RUN_SCHEMA)
    try:
        store = RedisQuotaStore(redis)
        for record in records:
            assert await store.meter(record, scopes=())
        while await redis.xlen(handoff_key(records[0].tenant)):
            await durable.shipper.ship_once()
            await asyncio.sleep(0.02)
    finally:
        await durable.close()
        await redis.aclose()


def test_usage_export_filters_by_range_in_both_formats(
    capsys: pytest.CaptureFixture[str], config: Path, tenant: str, tmp_path: Path
) -> None:
    cfg = ["--config", str(config)]
    assert run(capsys, "tenants", "create", tenant, *cfg, "--jurisdiction", "DE")[0] == 0
    records = [
        usage_record(tenant, "r1", NOV_1 + 9 * HOUR, 10),  # Nov 1
        usage_record(tenant, "r2", NOV_1 + 17 * HOUR, 20),  # Nov 1
        usage_record(tenant, "r3", NOV_1 + 24 * HOUR + 8 * HOUR, 30),  # Nov 2
    ]
    asyncio.run(seed_ledger(records))

    # Both days, as CSV on stdout.
    code, out, err = export_usage(
        capsys, config, tenant, "--from", "2026-11-01", "--to", "2026-11-03", "--format", "csv"
    )
    assert code == 0
    assert "exported 3 records" in err
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [r["request_id"] for r in rows] == ["r1", "r2", "r3"]
    assert [int(r["total_tokens"]) for r in rows] == [30, 60, 90]
    parsed = [
        UsageRecord.model_validate(
            {k: (None if v == "" else v) for k, v in r.items() if k != "total_tokens"}
        )
        for r in rows
    ]
    assert parsed == records

    # The first day only ("to" is exclusive), as JSON Lines into a file.
    output = tmp_path / "nov1.jsonl"
    to_file = ["--format", "jsonl", "--output", str(output)]
    code, out, err = export_usage(
        capsys, config, tenant, "--from", "2026-11-01", "--to", "2026-11-02", *to_file
    )
    assert code == 0
    assert out == ""
    assert "exported 2 records" in err
    lines = output.read_text().splitlines()
    assert [UsageRecord.model_validate(orjson.loads(line)) for line in lines] == records[:2]

    # The second day, with a date and time for the start, as CSV into a file.
    output = tmp_path / "nov2.csv"
    start = "2026-11-01T17:00:01Z"
    code, _, err = export_usage(
        capsys, config, tenant, "--from", start, "--to", "2026-11-03", "--output", str(output)
    )
    assert code == 0
    with output.open(newline="") as f:
        assert [r["request_id"] for r in csv.DictReader(f)] == ["r3"]

    # Nothing in range: a header and no rows.
    code, out, err = export_usage(
        capsys, config, tenant, "--from", "2026-10-01", "--to", "2026-11-01"
    )
    assert code == 0
    assert out.splitlines() == [",".join(UsageRecord.model_fields) + ",total_tokens"]
    assert "exported 0 records" in err


def test_usage_export_refuses_bad_input(
    capsys: pytest.CaptureFixture[str], config: Path, tenant: str
) -> None:
    cfg = ["--config", str(config)]
    code, _, err = export_usage(capsys, config, tenant)
    assert code == 1
    assert "No tenant" in err
    assert run(capsys, "tenants", "create", tenant, *cfg, "--jurisdiction", "DE")[0] == 0
    code, out, err = export_usage(capsys, config, tenant, "--from", "1st of November")
    assert code == 2
    assert out == ""
    assert "'1st of November' is not an ISO 8601 date" in err
    code, _, err = export_usage(
        capsys, config, tenant, "--from", "2026-11-02", "--to", "2026-11-01"
    )
    assert code == 2
    assert "empty" in err


def test_commands_need_redis_in_the_configuration(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    embedded = tmp_path / "embedded.yaml"
    embedded.write_text("server:\n  port: 8080\n")
    for argv in (
        ["tenants", "list"],
        ["tenants", "create", "x", "--jurisdiction", "DE"],
        ["keys", "issue", "x"],
        ["usage", "export", "--tenant", "x"],
    ):
        code, out, err = run(capsys, *argv, "--config", str(embedded))
        assert code == 2
        assert out == ""
        assert err.strip() == EMBEDDED_STORE
        assert "admin API" in err
    code, _, err = run(capsys, "tenants", "list", "--config", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert "not found" in err
    with pytest.raises(SystemExit) as caught:
        main(["tenants", "list"])  # --config is required
    assert caught.value.code == 2
