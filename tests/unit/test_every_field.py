"""Under a policy, every text a request would send is analysed, or the request is refused
(issue 12, item 5): personal data in fields the policy used not to read (a message's name,
``user``, tool and schema descriptions, ``stop``, ``suffix``, ``documents``, a client's
chat template and its kwargs, ``metadata``) never reaches the engine in clear; fields the
gateway does not know, and parts it cannot read, are refused unless the policy lets them
through. The real analyzer; a fake engine that records what it received.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth import hash_key
from tests.unit.conftest import FakeEngines, chat_ok, make_settings

GDPR, OPEN, PASS = "sk-fields-gdpr-01", "sk-fields-none-02", "sk-fields-pass-03"
EMAIL, IBAN, PHONE = "max.mustermann@example.de", "DE89 3704 0044 0532 0130 00", "+49 30 1234567"
SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
PASSTHROUGH_POLICY = """
id: lets-metadata-through
default: {prompt: flag, response: flag}
entities:
  contact: {prompt: pseudonymize, response: mask}
  identifier: {prompt: pseudonymize, response: mask}
passthrough_fields: [metadata, "messages.*.content.*.image_url"]
"""


def _completion(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/completions":
        usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
        choice = {"index": 0, "text": "ok", "finish_reason": "stop"}
        return httpx.Response(200, json={"choices": [choice], "usage": usage})
    return chat_ok(request)


@pytest.fixture
def engines() -> FakeEngines:
    return FakeEngines(_completion)


@pytest.fixture
def client(engines: FakeEngines, tmp_path: Path) -> Iterator[TestClient]:
    policy_file = tmp_path / "passthrough.yaml"
    policy_file.write_text(PASSTHROUGH_POLICY)
    settings = make_settings(
        # Tenants naming no policy get none (the default is off here).
        privacy={"policy_files": [str(policy_file)], "default_policy": None},
        tenants=[
            {
                "id": "gdpr",
                "policy": "gdpr-default",
                "api_keys": [{"id": "g", "hash": hash_key(GDPR)}],
            },
            {"id": "open", "api_keys": [{"id": "o", "hash": hash_key(OPEN)}]},
            {
                "id": "pass",
                "policy": "lets-metadata-through",
                "api_keys": [{"id": "p", "hash": hash_key(PASS)}],
            },
        ],
    )
    with TestClient(create_app(settings, upstream_transport=httpx.MockTransport(engines))) as c:
        yield c


def _post(client: TestClient, body: dict[str, Any], key: str = GDPR, path: str = "chat") -> Any:
    url = "/v1/chat/completions" if path == "chat" else "/v1/completions"
    return client.post(url, json=body, headers={"authorization": f"Bearer {key}"})


def _sent(engines: FakeEngines) -> str:
    return engines.requests[-1].content.decode()


CHAT: dict[str, Any] = {"model": "smollm2", "messages": [{"role": "user", "content": "Hallo"}]}
TOOL = {
    "type": "function",
    "function": {
        "name": "refund",
        "description": f"Refunds to {IBAN} unless told otherwise",
        "parameters": {
            "type": "object",
            "properties": {
                "to": {"type": "string", "description": f"Ask {EMAIL} if unsure"},
            },
        },
    },
}


@pytest.mark.parametrize(
    ("extra", "values"),
    [
        ({"messages": [{"role": "user", "content": "Hallo", "name": EMAIL}]}, [EMAIL]),
        ({"user": EMAIL}, [EMAIL]),
        ({"tools": [TOOL]}, [IBAN, EMAIL]),
        ({"response_format": {"type": "json_schema", "json_schema": {
            "name": "answer", "description": f"Call {PHONE}",
            "schema": {"type": "object", "description": f"for {EMAIL}"}}}}, [PHONE, EMAIL]),
        ({"stop": [EMAIL, "\n\n"]}, [EMAIL]),
        ({"documents": [{"title": "Akte", "text": f"Kontakt {EMAIL}, IBAN {IBAN}"}]},
         [EMAIL, IBAN]),
        ({"chat_template": "{{ messages }} Support: " + EMAIL}, [EMAIL]),
        ({"chat_template_kwargs": {"signature": f"Bei Fragen: {PHONE}"}}, [PHONE]),
        ({"metadata": {"customer": EMAIL}}, [EMAIL]),
        ({"messages": [{"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "refund", "arguments": json.dumps({"iban": IBAN})}}]},
            {"role": "tool", "tool_call_id": "c1", "content": f"sent to {EMAIL}"},
            {"role": "user", "content": "danke"}]}, [IBAN, EMAIL]),
        ({"guided_choice": [f"Ja, {EMAIL}", "Nein"]}, [EMAIL]),
    ],
)  # fmt: skip
def test_personal_data_in_any_field_is_pseudonymised_before_the_engine(
    client: TestClient, engines: FakeEngines, extra: dict[str, Any], values: list[str]
) -> None:
    response = _post(client, {**CHAT, **extra})

    assert response.status_code == 200, response.text
    sent = _sent(engines)
    for value in values:
        assert value not in sent, value
        assert json.dumps(value)[1:-1] not in sent
    assert "<" in sent  # placeholders took their place


def test_suffix_and_stop_of_a_completion_are_analysed(
    client: TestClient, engines: FakeEngines
) -> None:
    body = {"model": "smollm2", "prompt": "Sehr geehrte", "suffix": f"Gruß, {EMAIL}",
            "stop": [PHONE]}  # fmt: skip
    response = _post(client, body, path="completions")
    assert response.status_code == 200, response.text
    assert EMAIL not in _sent(engines)
    assert PHONE not in _sent(engines)


def test_a_secret_in_a_messages_name_is_blocked(client: TestClient, engines: FakeEngines) -> None:
    body = {**CHAT, "messages": [{"role": "user", "content": "Hallo", "name": SECRET}]}
    response = _post(client, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "pii_blocked"
    assert SECRET not in response.text
    assert engines.requests == []


def test_personal_data_in_a_schema_property_name_is_refused_naming_the_field(
    client: TestClient, engines: FakeEngines
) -> None:
    tool = json.loads(json.dumps(TOOL))
    tool["function"]["parameters"]["properties"] = {EMAIL: {"type": "string"}}
    response = _post(client, {**CHAT, "tools": [tool]})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "tools"
    assert EMAIL not in response.text
    assert engines.requests == []


@pytest.mark.parametrize(
    ("extra", "param", "code"),
    [
        ({"my_new_engine_option": "x"}, "my_new_engine_option", "unknown_field"),
        ({"messages": [{"role": "user", "content": "Hallo", "secret_note": "x"}]},
         "messages.0.secret_note", "unknown_field"),
        ({"top_k": "Max Mustermann"}, "top_k", "invalid_value"),
        ({"truncation_side": "Max Mustermann"}, "truncation_side", "invalid_value"),
        ({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]},
         "messages.0.content.0", "unanalysable_input"),
        ({"metadata": {"customer": "x"}}, None, None),  # known: analysed, not refused
    ],
)  # fmt: skip
def test_what_the_policy_cannot_check_is_refused_naming_the_field(
    client: TestClient,
    engines: FakeEngines,
    extra: dict[str, Any],
    param: str | None,
    code: str | None,
) -> None:
    response = _post(client, {**CHAT, **extra})
    if param is None:
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code)
    assert param in error["message"]
    assert engines.requests == []


def test_a_policy_can_let_named_fields_through_unanalysed(
    client: TestClient, engines: FakeEngines
) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    parts = [image, {"type": "text", "text": EMAIL}]
    body = {
        **CHAT,
        "metadata": {"customer": EMAIL},
        "messages": [{"role": "user", "content": parts}],
    }
    response = _post(client, body, key=PASS)
    assert response.status_code == 200, response.text
    sent = json.loads(_sent(engines))
    assert sent["metadata"] == {"customer": EMAIL}  # through, as the policy says
    assert sent["messages"][0]["content"][0] == image
    assert EMAIL not in sent["messages"][0]["content"][1]["text"]  # text still analysed
    assert _post(client, {**CHAT, "other_field": 1}, key=PASS).status_code == 400


def test_without_a_policy_every_field_passes_as_before(
    client: TestClient, engines: FakeEngines
) -> None:
    body = {**CHAT, "my_new_engine_option": "x", "metadata": {"customer": EMAIL}}
    response = _post(client, body, key=OPEN)
    assert response.status_code == 200, response.text
    assert json.loads(_sent(engines)) == body
