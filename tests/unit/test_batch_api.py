"""``/v1/files`` and ``/v1/batches`` through the app with the openai SDK, against fake engines
(``httpx.MockTransport``) and a directory store: the runner in the lifespan runs each line
through the request path. The real engine: tests/e2e/test_batches.py."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from tests.unit.conftest import DE_KEY, LIMITED_KEY, FakeEngines, make_settings

CHAT_URL: Final = "/v1/chat/completions"


def _line(custom_id: str, content: str = "Hallo", **body: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": CHAT_URL,
        "body": {"model": "smollm2", "messages": [{"role": "user", "content": content}], **body},
    }


def _jsonl(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def _settings(store: Path | None, **batches: Any) -> Any:
    section: dict[str, Any] = {"poll_interval": 0.05, "retry_after": 0.05, **batches}
    if store is not None:
        section["store"] = {"jurisdiction": "DE", "operator": "test", "path": str(store)}
    return make_settings(batches=section)


@pytest.fixture
def app_client(engines: FakeEngines, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(_settings(tmp_path / "store"), upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as client:
        yield client


def sdk(client: TestClient, key: str = DE_KEY) -> openai.OpenAI:
    return openai.OpenAI(
        base_url="http://testserver/v1", api_key=key, http_client=client, max_retries=0
    )


def _until_ended(client: openai.OpenAI, batch_id: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch still {batch.status}")


def _results(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    return [json.loads(x) for x in client.files.content(file_id).text.splitlines()]


def test_a_batch_runs_each_line_through_the_path_and_the_sdk_reads_its_output(
    app_client: TestClient, engines: FakeEngines
) -> None:
    client = sdk(app_client)
    upload = client.files.create(
        file=("requests.jsonl", io.BytesIO(_jsonl(_line("a"), _line("b")))), purpose="batch"
    )
    assert upload.purpose == "batch"
    assert upload.status == "processed"
    assert upload.bytes > 0
    assert upload.expires_at is not None
    assert upload.expires_at > upload.created_at
    assert client.files.retrieve(upload.id).filename == "requests.jsonl"
    batch = client.batches.create(
        input_file_id=upload.id,
        endpoint=CHAT_URL,
        completion_window="24h",
        metadata={"job": "nightly"},
    )
    assert batch.status == "validating"
    assert batch.metadata == {"job": "nightly"}
    assert batch.expires_at == batch.created_at + 86_400
    done = _until_ended(client, batch.id)
    assert done.status == "completed", done
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed) == (2, 2)
    assert done.request_counts.failed == 0
    assert done.error_file_id is None
    assert done.usage is not None
    assert done.usage.total_tokens == 14
    assert done.model == "smollm2"
    assert done.completed_at is not None
    lines = _results(client, done.output_file_id)
    assert [line["custom_id"] for line in lines] == ["a", "b"]
    for line in lines:
        assert line["error"] is None
        assert line["id"].startswith("batch_req_")
        response = line["response"]
        assert response["status_code"] == 200
        assert response["request_id"].startswith("req_")
        assert response["body"]["choices"][0]["message"]["content"] == "Hallo!"
    # Every line reached an engine at batch priority, as its own request.
    sent = [r for r in engines.requests if r.url.path == CHAT_URL]
    assert len(sent) == 2
    output = client.files.retrieve(done.output_file_id)
    assert output.purpose == "batch_output"
    assert [b.id for b in client.batches.list()] == [batch.id]
    listed = {f.id for f in client.files.list()}
    assert {upload.id, done.output_file_id} <= listed


def test_lines_the_path_refuses_go_to_the_error_file_and_the_others_still_run(
    app_client: TestClient,
) -> None:
    client = sdk(app_client)
    lines = _jsonl(
        _line("ok"),
        {**_line("unknown-model"), "body": {**_line("x")["body"], "model": "nope"}},
        {**_line("bad-body"), "body": {"model": "smollm2", "messages": "not a list"}},
    )
    upload = client.files.create(file=("r.jsonl", io.BytesIO(lines)), purpose="batch")
    batch = client.batches.create(
        input_file_id=upload.id, endpoint=CHAT_URL, completion_window="24h"
    )
    done = _until_ended(client, batch.id)
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (1, 2)
    errors = {line["custom_id"]: line for line in _results(client, done.error_file_id)}
    assert errors["unknown-model"]["response"]["status_code"] == 404
    assert errors["bad-body"]["response"]["status_code"] == 400
    assert "error" in errors["bad-body"]["response"]["body"]
    assert [x["custom_id"] for x in _results(client, done.output_file_id)] == ["ok"]


def test_malformed_lines_fail_the_batch_at_validation_as_openai_does(
    app_client: TestClient,
) -> None:
    client = sdk(app_client)
    lines = _jsonl(
        _line("a"),
        {**_line("a")},  # duplicate custom_id
        {**_line("c"), "url": "/v1/embeddings"},
        {**_line("d"), "method": "GET"},
    )
    upload = client.files.create(file=("r.jsonl", io.BytesIO(lines)), purpose="batch")
    batch = client.batches.create(
        input_file_id=upload.id, endpoint=CHAT_URL, completion_window="24h"
    )
    done = _until_ended(client, batch.id)
    assert done.status == "failed"
    assert done.failed_at is not None
    assert done.errors is not None
    assert done.errors.data is not None
    found = [(e.code, e.line) for e in done.errors.data]
    assert found == [("duplicate_custom_id", 2), ("mismatched_url", 3), ("invalid_method", 4)]


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("r.jsonl", b'{"custom_id": "a"}\nnot json\n', "Line 2 is not a JSON object"),
        ("r.jsonl", b"\xff\xfe", "not UTF-8"),
        ("r.csv", _jsonl(_line("a")), "must be .jsonl"),
        ("r.jsonl", b"\n\n", "no lines"),
        ("r.jsonl", _jsonl(*[_line(str(i)) for i in range(4)]), "more than the limit of 3"),
    ],
)
def test_a_bad_upload_is_a_clear_400_and_nothing_is_stored(
    engines: FakeEngines, tmp_path: Path, name: str, content: bytes, says: str
) -> None:
    settings = _settings(tmp_path / "store", max_lines=3)
    app = create_app(settings, upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as test_client:
        client = sdk(test_client)
        with pytest.raises(openai.BadRequestError) as refused:
            client.files.create(file=(name, io.BytesIO(content)), purpose="batch")
        assert says in refused.value.message
        assert client.files.list().data == []


def test_an_upload_larger_than_the_limit_is_a_413(engines: FakeEngines, tmp_path: Path) -> None:
    settings = _settings(tmp_path / "store", max_file_bytes=2048)
    app = create_app(settings, upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as test_client:
        client = sdk(test_client)
        big = _jsonl(*[_line(str(i), "x" * 100) for i in range(30)])
        with pytest.raises(openai.APIStatusError) as refused:
            client.files.create(file=("r.jsonl", io.BytesIO(big)), purpose="batch")
        assert refused.value.status_code == 413


def test_another_tenant_sees_neither_the_file_nor_the_batch(app_client: TestClient) -> None:
    owner, other = sdk(app_client), sdk(app_client, LIMITED_KEY)
    upload = owner.files.create(file=("r.jsonl", io.BytesIO(_jsonl(_line("a")))), purpose="batch")
    batch = owner.batches.create(
        input_file_id=upload.id, endpoint=CHAT_URL, completion_window="24h"
    )
    for attempt in (
        lambda: other.files.retrieve(upload.id),
        lambda: other.files.content(upload.id),
        lambda: other.files.delete(upload.id),
        lambda: other.batches.retrieve(batch.id),
        lambda: other.batches.cancel(batch.id),
        lambda: other.batches.create(
            input_file_id=upload.id, endpoint=CHAT_URL, completion_window="24h"
        ),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    assert other.files.list().data == []
    assert other.batches.list().data == []
    assert _until_ended(owner, batch.id).status == "completed"


def test_unauthenticated_callers_get_401_and_unknown_ids_404(app_client: TestClient) -> None:
    anonymous = app_client.get("/v1/files")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "missing_api_key"
    client = sdk(app_client)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("../../etc/passwd")
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_" + "0" * 32)
    deleted = client.files.delete(
        client.files.create(file=("r.jsonl", io.BytesIO(_jsonl(_line("a")))), purpose="batch").id
    )
    assert deleted.deleted is True


def test_without_a_declared_store_the_routes_say_batches_are_not_configured(
    engines: FakeEngines,
) -> None:
    app = create_app(_settings(None), upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as test_client:
        client = sdk(test_client)
        with pytest.raises(openai.NotFoundError) as refused:
            client.batches.list()
        assert refused.value.code == "batches_not_configured"
        assert "batches.store" in refused.value.message
        assert test_client.get("/v1/files").status_code == 401  # who asks comes first


def test_a_store_outside_the_allowed_jurisdictions_stops_the_start(tmp_path: Path) -> None:
    from gateway.telemetry.residency import SinkOutsideJurisdiction

    settings = make_settings(
        batches={"store": {"jurisdiction": "US", "operator": "x", "path": str(tmp_path)}}
    )
    with pytest.raises(SinkOutsideJurisdiction, match="batch store"):
        create_app(settings)


def test_the_routes_are_in_the_openapi_document(app_client: TestClient) -> None:
    paths = app_client.get("/openapi.json").json()["paths"]
    for path in ("/v1/files", "/v1/files/{file_id}/content", "/v1/batches",
                 "/v1/batches/{batch_id}/cancel"):  # fmt: skip
        assert path in paths
