"""``/v1/files`` and ``/v1/batches`` against the real vLLM engine, through the openai SDK.

One gateway process for the module: Redis as its store (the ledger is read to check that each
line was metered), PostgreSQL as the declared batch store (a schema of its own, dropped
afterwards), a recording proxy between it and the engine (what the engine received), and
four tenants: no policy, gdpr-default, another tenant, and one to erase.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import openai
import psycopg
import pytest
from psycopg import sql

from gateway.auth import hash_key
from tests.e2e.conftest import MODEL
from tests.processes import (
    ADMIN_TOKEN,
    SYSTEM_REDIS,
    VAULT_KEY,
    GatewayProcess,
    gateway_process,
    ledger,
)
from tests.recording_proxy import Recording, recording_proxy
from tests.servers import EngineUnderTest

pytestmark = pytest.mark.engine

DSN = "postgresql://postgres@127.0.0.1:5432/test"
CHAT: Final = "/v1/chat/completions"
NAME = "Annette Brandmeier"
IBAN = "DE89 3704 0044 0532 0130 00"
ANSWER = "Sehr geehrte Frau <PERSON_1>, Ihre IBAN <IBAN_1> ist gespeichert."
SUFFIX = uuid.uuid4().hex[:8]
TENANTS = {kind: (f"batch-{kind}-{SUFFIX}", f"sk-batch-{kind}-{uuid.uuid4().hex}")
           for kind in ("plain", "gdpr", "other", "erased")}  # fmt: skip


@dataclass(frozen=True)
class Setup:
    gateway: GatewayProcess
    proxy: Recording
    engine: EngineUnderTest

    def client(self, kind: str) -> openai.OpenAI:
        return self.gateway.client(TENANTS[kind][1])


@pytest.fixture(scope="module")
def setup(engine: EngineUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("batches")
    schema = "e2e_batches_" + SUFFIX

    def tenant(kind: str, **spec: str) -> dict[str, Any]:
        tid, key = TENANTS[kind]
        return {"id": tid, "api_keys": [{"id": f"{tid}-1", "hash": hash_key(key)}], **spec}

    with recording_proxy(engine.base_url) as proxy:
        config = {
            "store": {"redis_url": SYSTEM_REDIS, "jurisdiction": "DE", "operator": "test"},
            "security": {"pseudonym_key": VAULT_KEY},
            "admin": {"token_hash": hash_key(ADMIN_TOKEN)},
            "privacy": {"default_policy": None},
            "telemetry": {"audit_dir": str(folder / "audit")},
            "metering": {"spool_dir": str(folder / "spool")},
            "batches": {
                "store": {"jurisdiction": "DE", "operator": "test", "dsn": DSN,
                          "schema_name": schema},
                "poll_interval": 0.2,
            },
            "pools": [{"name": "local-de", "jurisdiction": "DE", "site": "de-local-1",
                       "engines": [proxy.url], "models": [MODEL]}],
            "tenants": [tenant("plain"), tenant("gdpr", policy="gdpr-default"),
                        tenant("other"), tenant("erased")],
        }  # fmt: skip
        try:
            with gateway_process(config, folder, "batches") as gateway:
                yield Setup(gateway, proxy, engine)
        finally:
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


def _line(custom_id: str, content: str, **body: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": CHAT,
        "body": {
            "model": MODEL,
            "messages": [{"role": "user", "content": content}],
            "temperature": 0,
            "max_tokens": 8,
            **body,
        },
    }


def _submit(client: openai.OpenAI, *lines: dict[str, Any], **headers: str) -> Any:
    content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    upload = client.files.create(
        file=("requests.jsonl", io.BytesIO(content)), purpose="batch", extra_headers=headers
    )
    return client.batches.create(
        input_file_id=upload.id, endpoint=CHAT, completion_window="24h", extra_headers=headers
    )


def _ended(client: openai.OpenAI, batch_id: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
        time.sleep(0.2)
    raise AssertionError(f"the batch is still {batch.status}")


def _lines(client: openai.OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    assert file_id is not None
    parsed = [json.loads(x) for x in client.files.content(file_id).text.splitlines()]
    return {line["custom_id"]: line for line in parsed}


def test_each_answer_equals_the_engines_own_and_each_line_is_metered(setup: Setup) -> None:
    client = setup.client("plain")
    prompts = {"capital": "What is the capital of France?", "count": "Count from 1 to 5.",
               "colour": "Name a colour."}  # fmt: skip
    batch = _submit(
        client,
        *(_line(cid, text) for cid, text in prompts.items()),
        _line("bad", "Hi", model="no-such-model"),
    )
    done = _ended(client, batch.id)
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed) == (4, 3)
    assert done.request_counts.failed == 1
    answered = _lines(client, done.output_file_id)
    direct = openai.OpenAI(base_url=setup.engine.base_url + "/v1", api_key="x", max_retries=0)
    for cid, text in prompts.items():
        line = answered[cid]
        assert line["response"]["status_code"] == 200
        assert line["error"] is None
        expected = direct.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": text}], temperature=0, max_tokens=8
        )
        got = line["response"]["body"]["choices"][0]["message"]["content"]
        assert got == expected.choices[0].message.content
    # The bad line is in the error file with the error the request path gave it.
    error = _lines(client, done.error_file_id)["bad"]
    assert error["response"]["status_code"] == 404
    assert error["response"]["body"]["error"]["code"] == "model_not_found"
    # Each line is its own request on the tenant's ledger, metered with the engine's usage.
    records = {r.request_id: r for r in ledger(SYSTEM_REDIS, TENANTS["plain"][0])}
    for cid in prompts:
        line = answered[cid]
        record = records[line["response"]["request_id"]]
        usage = line["response"]["body"]["usage"]
        assert (record.prompt_tokens, record.completion_tokens) == (
            usage["prompt_tokens"],
            usage["completion_tokens"],
        )
    assert done.usage is not None
    assert done.usage.output_tokens == sum(
        answered[c]["response"]["body"]["usage"]["completion_tokens"] for c in prompts
    )


def test_personal_data_reaches_the_engine_as_placeholders_and_comes_back_restored(
    setup: Setup,
) -> None:
    client = setup.client("gdpr")
    prompt = f"Bitte bestätige Frau {NAME}, dass ihre IBAN {IBAN} gespeichert ist."
    seen = len(setup.proxy.requests)
    batch = _submit(
        client,
        _line("letter", prompt, max_tokens=40, structured_outputs={"choice": [ANSWER]}),
    )
    done = _ended(client, batch.id)
    assert done.status == "completed", done
    sent = [json.loads(body) for body in setup.proxy.requests[seen:]]
    [to_engine] = [s for s in sent if s.get("messages")]
    text = to_engine["messages"][0]["content"]
    assert NAME not in text
    assert IBAN not in text
    assert IBAN.replace(" ", "") not in text
    assert "<PERSON_1>" in text
    assert "<IBAN_1>" in text
    answer = _lines(client, done.output_file_id)["letter"]["response"]["body"]
    restored = ANSWER.replace("<PERSON_1>", NAME).replace("<IBAN_1>", IBAN)
    assert answer["choices"][0]["message"]["content"] == restored


def test_a_cancel_aborts_the_lines_in_flight_and_they_are_metered(setup: Setup) -> None:
    client = setup.client("plain")
    batch = _submit(
        client, *(_line(f"long-{i}", f"Write a long story number {i}.", max_tokens=60)
                  for i in range(6)),
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while client.batches.retrieve(batch.id).status != "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.5)  # lines are at the engine: 60 tokens each take seconds here
    cancelled_at = time.monotonic()
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling"
    assert cancelling.cancelling_at is not None
    done = _ended(client, batch.id, timeout=30)
    assert time.monotonic() - cancelled_at < 5  # the engine was not waited for
    assert done.status == "cancelled"
    assert done.cancelled_at is not None
    assert done.request_counts is not None
    assert done.request_counts.completed == 0
    errors = _lines(client, done.error_file_id)
    assert sorted(errors) == [f"long-{i}" for i in range(6)]
    assert {e["error"]["code"] for e in errors.values()} == {"batch_cancelled"}
    # The lines in flight were aborted as a client that leaves, and metered as such.
    aborted = [r for r in ledger(SYSTEM_REDIS, TENANTS["plain"][0]) if r.status == "aborted"]
    assert len(aborted) == 4  # batches.concurrency
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(batch.id)


def test_another_tenant_can_read_neither_the_file_nor_the_batch(setup: Setup) -> None:
    owner, other = setup.client("plain"), setup.client("other")
    batch = _submit(owner, _line("a", "Say yes."))
    for attempt in (
        lambda: other.files.retrieve(batch.input_file_id),
        lambda: other.files.content(batch.input_file_id),
        lambda: other.batches.retrieve(batch.id),
        lambda: other.batches.cancel(batch.id),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    assert all(b.id != batch.id for b in other.batches.list())
    assert _ended(owner, batch.id).status == "completed"


def test_tenant_and_subject_erasure_delete_files_and_batches(setup: Setup) -> None:
    client, admin = setup.client("erased"), setup.gateway.admin()
    about_alice = _submit(client, _line("a", "Say yes.", user="alice-4711"))
    about_bob = _submit(client, _line("b", "Say no."), **{"x-sovereign-subject": "bob-0815"})
    done = _ended(client, about_alice.id)
    receipt = admin.post("/subjects/erase", json={"subject": "alice-4711"}).json()
    assert receipt["counts"]["batches"] == 3  # the input, the batch and its output file
    for gone in (
        lambda: client.batches.retrieve(about_alice.id),
        lambda: client.files.retrieve(about_alice.input_file_id),
        lambda: client.files.content(done.output_file_id),
    ):
        with pytest.raises(openai.NotFoundError):
            gone()
    assert client.batches.retrieve(about_bob.id).id == about_bob.id
    _ended(client, about_bob.id)
    erased = admin.delete(f"/tenants/{TENANTS['erased'][0]}/batches")
    assert erased.status_code == 200
    assert erased.json()["deleted"] >= 3
    assert client.batches.list().data == []
    assert client.files.list().data == []
