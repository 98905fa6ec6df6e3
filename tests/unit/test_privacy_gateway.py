"""The GDPR policy in the request path, with the real analyzer and a fake engine that echoes
what it received (so the test sees exactly what reached the engine, and what came back)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth import hash_key
from gateway.privacy.service import check_privacy_settings
from tests.unit.conftest import make_settings

GDPR = "sk-test-gdpr-0001"
STRICT = "sk-test-strict-0002"
SHADOW = "sk-test-shadow-0003"
HASTY = "sk-test-hasty-0004"
OPEN = "sk-test-open-0005"
NAME, IBAN = "Max Mustermann", "DE89 3704 0044 0532 0130 00"
PROMPT = f"Herr {NAME} möchte seine IBAN {IBAN} ändern. Bitte formuliere eine Antwort."
FOREIGN_IBAN = "GB82 WEST 1234 5698 7654 32"


def _tenant(tid: str, key: str, policy: str | None) -> dict[str, Any]:
    return {"id": tid, "api_keys": [{"id": tid, "hash": hash_key(key)}], "policy": policy}


_SSE_HEADERS = {"content-type": "text/event-stream"}


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:  # one network read per event, as an engine sends them
        yield part


class EchoEngine:
    """Answers with what the last user message said (placeholders included), plus ``extra``."""

    def __init__(self) -> None:
        self.handler: Any = None  # a test may answer differently
        self.bodies: list[dict[str, Any]] = []
        self.hosts: list[str] = []
        self.extra = ""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.handler is not None:
            answer: httpx.Response = self.handler(request)
            return answer
        body = json.loads(request.content)
        self.bodies.append(body)
        self.hosts.append(request.url.host)
        if request.url.path == "/v1/embeddings":
            return httpx.Response(200, json={"data": [], "usage": {"prompt_tokens": 3}})
        text = "Antwort: " + body["messages"][-1]["content"] + self.extra
        usage = {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18}
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return httpx.Response(200, json={"choices": [choice], "usage": usage})
        events: list[dict[str, Any]] = []
        for i in range(0, len(text), 3):  # three characters per event: placeholders split
            delta = {"content": text[i : i + 3]}
            events.append({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        events.append({"choices": [], "usage": usage})
        sse = [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events]
        return httpx.Response(
            200, content=_chunks([*sse, b"data: [DONE]\n\n"]), headers=_SSE_HEADERS
        )

    def last_text(self) -> str:
        return str(self.bodies[-1]["messages"][-1]["content"])


@pytest.fixture
def engine() -> EchoEngine:
    return EchoEngine()


@pytest.fixture
def client(engine: EchoEngine, tmp_path: Path) -> Iterator[TestClient]:
    files = []
    for name, extra in [
        ("shadow-gdpr", "shadow: true"),
        ("hasty", "analyzer: {timeout_ms: 50, on_error: fail_closed}"),
        ("hasty-open", "analyzer: {timeout_ms: 50, on_error: fail_open}"),
    ]:
        path = tmp_path / f"{name}.yaml"
        path.write_text(
            f"id: {name}\n{extra}\nentities:\n  PERSON: {{prompt: pseudonymize}}\n"
            "  identifier: {prompt: pseudonymize, response: mask}\n"
        )
        files.append(str(path))
    base = make_settings()
    pools = [p.model_dump(mode="json") for p in base.pools]
    pools.append(
        {
            "name": "de-cleared",
            "jurisdiction": "DE",
            "site": "de-bie-1",
            "engines": ["http://cleared.engine:8000"],
            "models": ["smollm2"],
            "data_classes": ["special-category"],
        }
    )
    settings = make_settings(
        pools=pools,
        tenants=[
            _tenant("gdpr", GDPR, None),  # the default policy: gdpr-default
            _tenant("strict", STRICT, "public-sector-strict"),
            _tenant("shadow", SHADOW, "shadow-gdpr"),
            _tenant("hasty", HASTY, "hasty"),
            _tenant("open", OPEN, "hasty-open"),
        ],
        # The analysis deadline is under test: every request goes through the threads.
        privacy={"policy_files": files, "inline_analysis_chars": 0},
    )
    app = create_app(settings, upstream_transport=httpx.MockTransport(engine))
    with TestClient(app) as test_client:
        yield test_client


def _chat(client: TestClient, key: str, text: str, **extra: Any) -> Any:
    body = {"model": "smollm2", "messages": [{"role": "user", "content": text}], **extra}
    return client.post(
        "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
    )


def _streamed_text(response: Any) -> str:
    text = ""
    for line in response.text.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:])["choices"]:
                text += choice["delta"].get("content") or ""
    return text


def test_values_reach_the_engine_as_placeholders_and_come_back_restored(
    client: TestClient, engine: EchoEngine
) -> None:
    response = _chat(client, GDPR, PROMPT)
    assert response.status_code == 200
    sent = engine.last_text()
    assert NAME not in sent
    assert IBAN not in sent
    assert "Herr <PERSON_1> möchte seine IBAN <IBAN_1> ändern." in sent
    assert response.json()["choices"][0]["message"]["content"] == "Antwort: " + PROMPT
    assert response.headers["x-sovereign-policy"].startswith("gdpr-default@")
    assert response.headers["x-sovereign-policy-mode"] == "enforce"
    assert response.headers["x-sovereign-pii-prompt"] == "IBAN:pseudonymize=1,PERSON:pseudonymize=1"


def test_streamed_answers_are_restored_even_when_placeholders_arrive_in_pieces(
    client: TestClient, engine: EchoEngine
) -> None:
    response = _chat(client, GDPR, PROMPT, stream=True)
    assert response.status_code == 200
    assert "<PERSON_1>" in engine.last_text()
    assert _streamed_text(response) == "Antwort: " + PROMPT
    assert "<IBAN_1>" not in response.text
    assert "<PERSON_1>" not in response.text
    assert response.text.rstrip().endswith("data: [DONE]")


def test_placeholders_are_stable_across_turns_and_never_shared(
    client: TestClient, engine: EchoEngine
) -> None:
    history = [{"role": "user", "content": PROMPT}, {"role": "assistant", "content": "Gern."}]
    follow_up = "Und Frau Erika Musterfrau hat dieselbe IBAN " + IBAN + "."
    body = {"model": "smollm2", "messages": [*history, {"role": "user", "content": follow_up}]}
    response = client.post(
        "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {GDPR}"}
    )
    assert response.status_code == 200
    messages = engine.bodies[-1]["messages"]
    assert "<PERSON_1>" in messages[0]["content"]
    assert "<IBAN_1>" in messages[0]["content"]
    assert messages[2]["content"] == "Und Frau <PERSON_2> hat dieselbe IBAN <IBAN_1>."


def test_a_secret_blocks_the_request_naming_only_its_type(
    client: TestClient, engine: EchoEngine
) -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2
    response = _chat(client, GDPR, f"Mein GitHub-Token ist {token}, bitte prüfen.")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "pii_blocked"
    assert error["type"] == "invalid_request_error"
    assert "SECRET" in error["message"]
    assert token not in response.text
    assert engine.bodies == []
    # Refused before any engine, still on record: audited with its code, never the value.
    resources = client.app_state["resources"]
    assert client.portal is not None
    client.portal.call(resources.observability.flush)  # records are written in batches
    audit = (resources.settings.telemetry.audit_dir / "audit.jsonl").read_text()
    assert '"http_status":400' in audit
    assert "refused:pii_blocked" in audit
    assert token not in audit


def test_special_categories_go_only_to_cleared_pools(
    client: TestClient, engine: EchoEngine
) -> None:
    for _ in range(3):
        response = _chat(client, STRICT, "Ich bin seit 2019 an Diabetes erkrankt.")
        assert response.status_code == 200
        assert response.headers["x-sovereign-pool"] == "de-cleared"
    assert set(engine.hosts) == {"cleared.engine"}
    # Ordinary prompts may go to any pool in the jurisdiction, cleared or not.
    pools = set()
    for _ in range(6):
        plain = _chat(client, STRICT, "Wie beantrage ich einen Anwohnerparkausweis?")
        assert plain.status_code == 200
        pools.add(plain.headers["x-sovereign-pool"])
    assert "de-muc-b200" in pools


def test_shadow_mode_records_but_sends_the_prompt_unchanged(
    client: TestClient, engine: EchoEngine
) -> None:
    response = _chat(client, SHADOW, PROMPT)
    assert response.status_code == 200
    assert engine.last_text() == PROMPT
    assert response.headers["x-sovereign-policy-mode"] == "shadow"
    assert "PERSON:pseudonymize=1" in response.headers["x-sovereign-pii-prompt"]


def test_identifiers_the_model_makes_up_are_masked_whole_and_streamed(
    client: TestClient, engine: EchoEngine
) -> None:
    engine.extra = f" Überweisen Sie an {FOREIGN_IBAN} bis morgen, vielen Dank für Ihre Geduld."
    whole = _chat(client, GDPR, PROMPT)
    expected = "Antwort: " + PROMPT + engine.extra.replace(FOREIGN_IBAN, "<IBAN>")
    assert whole.json()["choices"][0]["message"]["content"] == expected
    assert whole.headers["x-sovereign-pii-response"] == "IBAN:mask=1"
    streamed = _chat(client, GDPR, PROMPT, stream=True)
    assert _streamed_text(streamed) == expected
    assert FOREIGN_IBAN.replace(" ", "") not in streamed.text.replace(" ", "")


class SlowAnalyzer:
    """Stands in for an analyzer that hangs (a pathological input) or fails."""

    def __init__(self, seconds: float, fail: bool = False) -> None:
        self.seconds, self.fail = seconds, fail

    def analyze(self, text: str, entities: Any = None) -> list[Any]:
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("analyzer crashed")
        return []


@pytest.mark.parametrize("analyzer", [SlowAnalyzer(0.3), SlowAnalyzer(0, fail=True)])
def test_a_hanging_or_failing_analysis_fails_closed_or_open_as_the_policy_says(
    client: TestClient, engine: EchoEngine, monkeypatch: pytest.MonkeyPatch, analyzer: Any
) -> None:
    resources = client.app_state["resources"]  # what the lifespan built
    monkeypatch.setattr(resources.privacy.analysis, "_analyzer", analyzer)
    closed = _chat(client, HASTY, PROMPT)  # policy "hasty": 50 ms deadline, fail_closed
    assert closed.status_code == 503
    assert closed.json()["error"]["code"] == "policy_unavailable"
    assert engine.bodies == []
    opened = _chat(client, OPEN, PROMPT)  # the same with fail_open
    assert opened.status_code == 200
    assert opened.headers["x-sovereign-policy-mode"] == "degraded"
    assert engine.last_text() == PROMPT  # passed unfiltered, and said so


def test_token_id_prompts_cannot_be_checked_and_are_refused(
    client: TestClient, engine: EchoEngine
) -> None:
    body = {"model": "smollm2", "prompt": [[101, 2023, 102]], "max_tokens": 3}
    response = client.post(
        "/v1/completions", json=body, headers={"authorization": f"Bearer {GDPR}"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unanalysable_input"
    assert engine.bodies == []


def test_embedding_inputs_are_pseudonymised_too(client: TestClient, engine: EchoEngine) -> None:
    body = {"model": "smollm2", "input": [PROMPT, "ohne Daten"]}
    response = client.post("/v1/embeddings", json=body, headers={"authorization": f"Bearer {GDPR}"})
    assert response.status_code == 200
    sent = engine.bodies[-1]["input"]
    # A keyed surrogate of the same kind per value (the presets'): test_embedding_pseudonyms
    assert re.match(r"Herr \w+ \w+ \w+-\w+ möchte", sent[0]), sent[0]
    assert NAME not in sent[0]
    assert sent[1] == "ohne Daten"


def test_tool_call_arguments_are_restored_as_valid_json(
    client: TestClient, engine: EchoEngine
) -> None:
    def with_tool_call(request: httpx.Request) -> httpx.Response:
        engine.bodies.append(json.loads(request.content))
        arguments = json.dumps({"recipient": "<PERSON_1>", "iban": "<IBAN_1>"})
        call = {"id": "c1", "type": "function", "function": {"name": "pay", "arguments": arguments}}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
        return httpx.Response(200, json={"choices": [choice], "usage": {"prompt_tokens": 1}})

    engine.handler = with_tool_call
    response = _chat(client, GDPR, PROMPT)
    call = response.json()["choices"][0]["message"]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"recipient": NAME, "iban": IBAN}


def test_start_up_refuses_unknown_policies_and_a_shared_vault_without_a_key() -> None:
    unknown = make_settings(tenants=[_tenant("t", GDPR, "lenient")])
    with pytest.raises(ValueError, match="unknown policy 'lenient'"):
        check_privacy_settings(unknown)
    shared = make_settings(store={"redis_url": "redis://127.0.0.1:6379/0"})
    with pytest.raises(ValueError, match="pseudonym_key is required"):
        check_privacy_settings(shared)
    keyed = make_settings(
        store={"redis_url": "redis://127.0.0.1:6379/0"},
        security={"pseudonym_key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="},
    )
    assert "gdpr-default" in check_privacy_settings(keyed).policies
