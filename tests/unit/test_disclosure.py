"""The deployer's disclosure (EU AI Act Art. 50(1)): its pure decisions, the notice put into
whole answers and streams, and system_prompt mode's instruction. Over HTTP, in front of the
simulator: ``tests/e2e/test_disclosure_on_simulator.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import openai
import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from gateway.admin.rules import check_changes
from gateway.admin.schemas import TenantUpdate, tenant_changes
from gateway.app import create_app
from gateway.core.limits import Limits
from gateway.core.tenant import AiDisclosure, TenantSpec
from gateway.disclosure.answer import disclose_body
from gateway.disclosure.notice import (
    DEFAULT_NOTICES,
    HEADER,
    Owed,
    first_turn,
    header_value,
    instruction_of,
    owed,
)
from gateway.disclosure.prompt import add_instruction
from gateway.disclosure.stream import DisclosingStream
from gateway.identity.roles import Actor, Role
from tests.unit.conftest import CHAT, DE_KEY, FakeEngines, auth, make_settings
from tests.unit.responses_engine import USAGE, ResponsesEngine

CHAT_PATH, MESSAGES, RESPONSES = "/v1/chat/completions", "/v1/messages", "/v1/responses"
EN = AiDisclosure(mode="first_answer", language="en")
DE = AiDisclosure(mode="first_answer", language="de")
USER = {"role": "user", "content": "Hallo"}
NAME = "Max Mustermann"
OWED = Owed("Note: AI.", "first_answer", in_text=True)


# -- which turn, which text, which answers -------------------------------------------------


def test_a_conversation_without_an_assistant_text_is_its_first_turn() -> None:
    tool_only = {"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]}
    tool_result = {"role": "tool", "tool_call_id": "c", "content": "42"}
    assert first_turn(CHAT_PATH, {"messages": [{"role": "system", "content": "Be kind"}, USER]})
    # a turn of tool calls only: nobody has read anything yet
    assert first_turn(CHAT_PATH, {"messages": [USER, tool_only, tool_result]})
    answered = {"messages": [USER, {"role": "assistant", "content": "Hi"}, USER]}
    assert not first_turn(CHAT_PATH, answered)
    parts = [{"type": "text", "text": "Hi"}]
    assert not first_turn(MESSAGES, {"messages": [USER, {"role": "assistant", "content": parts}]})
    tool_use = [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]
    assert first_turn(MESSAGES, {"messages": [USER, {"role": "assistant", "content": tool_use}]})


def test_the_responses_api_reads_its_history_from_input() -> None:
    assert first_turn(RESPONSES, {"input": "Hallo"})
    said = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Hi"}],
    }
    assert not first_turn(RESPONSES, {"input": [USER, said, USER]})
    call = {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}
    assert first_turn(RESPONSES, {"input": [USER, call]})


def test_the_notice_is_owed_on_first_turns_of_conversations_only() -> None:
    first = {"messages": [USER]}
    assert owed(AiDisclosure(), CHAT_PATH, first) is None  # off by default
    assert owed(EN, "/v1/completions", {"prompt": "x"}) is None  # no conversation
    assert owed(EN, "/v1/embeddings", {"input": "x"}) is None
    later = {"messages": [USER, {"role": "assistant", "content": "Hi"}, USER]}
    assert owed(EN, CHAT_PATH, later) is None
    assert owed(EN, CHAT_PATH, first) == Owed(DEFAULT_NOTICES["en"], "first_answer", True)
    assert owed(DE, CHAT_PATH, first) == Owed(DEFAULT_NOTICES["de"], "first_answer", True)
    custom = AiDisclosure(mode="first_answer", language="en", text="Bot here.")
    assert owed(custom, CHAT_PATH, first) == Owed("Bot here.", "first_answer", True)


@pytest.mark.parametrize(
    "constraint",
    [
        {"response_format": {"type": "json_object"}},
        {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
        {"structured_outputs": {"choice": ["ja", "nein"]}},
        {"guided_regex": "[0-9]+"},
        {"text": {"format": {"type": "json_schema", "schema": {}}}},
    ],
)
def test_a_constrained_answer_gets_the_notice_in_its_header_only(
    constraint: dict[str, Any],
) -> None:
    due = owed(EN, CHAT_PATH, {"messages": [USER], **constraint})
    assert due is not None
    assert (due.in_text, due.in_answer) == (False, False)


def test_the_header_is_ascii_or_rfc_8187() -> None:
    assert header_value(DEFAULT_NOTICES["de"]) == DEFAULT_NOTICES["de"]
    assert header_value("Hinweis: KI-gestützt") == "UTF-8''Hinweis%3A%20KI-gest%C3%BCtzt"


def test_the_tenant_spec_declares_the_setting() -> None:
    spec = TenantSpec.model_validate(
        {"id": "t", "ai_disclosure": {"mode": "system_prompt", "language": "en"}}
    )
    assert spec.runtime().ai_disclosure == AiDisclosure(mode="system_prompt", language="en")
    assert TenantSpec(id="u").runtime().ai_disclosure.mode == "off"
    with pytest.raises(ValidationError, match="language"):
        TenantSpec.model_validate({"id": "t", "ai_disclosure": {"language": "fr"}})


# -- system_prompt mode ---------------------------------------------------------------------


def test_the_instruction_joins_the_system_prompt_the_client_sent() -> None:
    text = instruction_of(EN)
    assert DEFAULT_NOTICES["en"] in text
    plain: dict[str, Any] = {"messages": [USER]}
    add_instruction(CHAT_PATH, plain, text)
    assert plain["messages"] == [{"role": "system", "content": text}, USER]
    given: dict[str, Any] = {"messages": [{"role": "developer", "content": "Be brief."}, USER]}
    add_instruction(CHAT_PATH, given, text)
    assert given["messages"][0] == {"role": "developer", "content": f"Be brief.\n\n{text}"}
    anthropic: dict[str, Any] = {"system": [{"type": "text", "text": "Be brief."}]}
    add_instruction(MESSAGES, anthropic, text)
    assert anthropic["system"][-1] == {"type": "text", "text": text}
    responses: dict[str, Any] = {"input": "Hallo"}
    add_instruction(RESPONSES, responses, text)
    assert responses["instructions"] == text


def test_system_prompt_mode_through_the_gateway() -> None:
    settings = make_settings(privacy={"default_policy": None})
    spec = {"mode": "system_prompt", "language": "de"}
    tenants = [
        t.model_copy(update={"ai_disclosure": AiDisclosure(**spec)}) if t.id == "acme-de" else t
        for t in settings.tenants
    ]
    engines = FakeEngines()
    app = create_app(
        settings.model_copy(update={"tenants": tenants}),
        upstream_transport=httpx.MockTransport(engines),
    )
    with TestClient(app) as client:
        first = client.post("/v1/chat/completions", json=CHAT, headers=auth())
        assert first.headers[HEADER] == DEFAULT_NOTICES["de"]
        assert engines.last_body()["messages"][0] == {
            "role": "system",
            "content": instruction_of(AiDisclosure(**spec)),
        }
        assert first.json()["choices"][0]["message"]["content"] == "Hallo!"  # the model's say
        later = [USER, {"role": "assistant", "content": "Hallo!"}, USER]
        second = client.post(
            "/v1/chat/completions", json={**CHAT, "messages": later}, headers=auth()
        )
        assert HEADER not in second.headers
        assert engines.last_body()["messages"] == later


# -- first_answer mode: whole answers ---------------------------------------------------------


def test_a_whole_chat_answer_begins_with_the_notice_and_tool_calls_stay() -> None:
    body = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hallo!"}},
            {"index": 1, "message": {"role": "assistant", "content": None, "tool_calls": []}},
        ],
        "usage": {"completion_tokens": 2},
    }
    out = orjson.loads(disclose_body(CHAT_PATH, orjson.dumps(body), OWED))
    assert out["choices"][0]["message"]["content"] == "Note: AI.\n\nHallo!"
    assert out["choices"][1]["message"] == body["choices"][1]["message"]  # type: ignore[index]
    assert out["usage"] == {"completion_tokens": 2}  # the engine's: the notice is not billed
    assert disclose_body(CHAT_PATH, b"not json", OWED) == b"not json"


def test_anthropic_and_responses_answers_get_it_in_their_first_text() -> None:
    message = {"content": [{"type": "tool_use", "id": "t"}, {"type": "text", "text": "Hi"}]}
    out = orjson.loads(disclose_body(MESSAGES, orjson.dumps(message), OWED))
    assert out["content"][1]["text"] == "Note: AI.\n\nHi"
    response = {
        "output": [
            {"type": "reasoning", "content": [{"type": "reasoning_text", "text": "hm"}]},
            {"type": "message", "content": [{"type": "output_text", "text": "Hi"}]},
        ]
    }
    out = orjson.loads(disclose_body(RESPONSES, orjson.dumps(response), OWED))
    assert out["output"][0]["content"][0]["text"] == "hm"
    assert out["output"][1]["content"][0]["text"] == "Note: AI.\n\nHi"


# -- first_answer mode: streams ---------------------------------------------------------------


class Events:
    """A relay source of fixed chunks."""

    finish_on_disconnect = False

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    async def events(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk

    async def aclose(self, *, client_gone: bool = False) -> None:
        self.closed = True


def _data(document: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(document) + b"\n\n"


def _relayed(source: Events, path: str, choices: int = 1) -> list[dict[str, Any]]:
    async def run() -> list[bytes]:
        stream = DisclosingStream(source, OWED, path, choices)
        out = [chunk async for chunk in stream.events()]
        await stream.aclose()
        return out

    chunks = b"".join(anyio.run(run))
    return [orjson.loads(line[6:]) for line in chunks.split(b"\n") if line.startswith(b"data: {")]


def _chunk(index: int, **delta: Any) -> dict[str, Any]:
    return {"choices": [{"index": index, "delta": delta}]}


def test_a_chat_stream_gets_the_notice_in_its_first_content_delta_of_each_choice() -> None:
    both = _data(_chunk(0, role="assistant", content="")) + _data(_chunk(1, content="Ja"))
    tool = _data(_chunk(2, tool_calls=[{"index": 0, "function": {"arguments": "{"}}]))
    later = _data(_chunk(0, content="Hallo")) + _data(_chunk(2, content="x"))
    source = Events([both, tool, later, b"data: [DONE]\n\n"])
    out = _relayed(source, CHAT_PATH, choices=3)
    deltas = [d["choices"][0]["delta"] for d in out]
    assert deltas[0]["content"] == "Note: AI.\n\n"
    assert deltas[1]["content"] == "Note: AI.\n\nJa"
    assert deltas[2] == {"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]}
    assert [deltas[3]["content"], deltas[4]["content"]] == ["Hallo", "x"]
    assert source.closed


def test_an_anthropic_stream_gets_it_in_its_first_text_delta() -> None:
    text = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "Hi"},
    }
    source = Events([_data(text, "content_block_delta"), _data(text, "content_block_delta")])
    out = _relayed(source, MESSAGES)
    assert [d["delta"]["text"] for d in out] == ["Note: AI.\n\nHi", "Hi"]


def test_a_responses_stream_repeats_the_notice_in_its_whole_texts() -> None:
    where = {"output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": "Hi!"}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.output_text.delta", {**where, "delta": "Hi"}),
        ("response.output_text.delta", {**where, "delta": "!"}),
        ("response.output_text.done", {**where, "text": "Hi!"}),
        ("response.content_part.done", {**where, "part": part}),
        ("response.output_item.done", {"output_index": 0, "item": {"content": [part]}}),
        ("response.completed", {"response": {"output": [{"content": [part]}]}}),
    ]
    source = Events([_data({**doc, "type": kind}, kind) for kind, doc in events])
    out = _relayed(source, RESPONSES)
    whole = "Note: AI.\n\nHi!"
    assert [out[0]["delta"], out[1]["delta"]] == ["Note: AI.\n\nHi", "!"]
    assert out[2]["text"] == out[3]["part"]["text"] == whole
    assert out[4]["item"]["content"][0]["text"] == whole
    assert out[5]["response"]["output"][0]["content"][0]["text"] == whole


def test_a_tenant_admin_sets_its_own_disclosure_through_the_admin_api_schema() -> None:
    # The deployer's duty is the tenant's: its admin may set it (gateway/admin/rules.py).
    actor = Actor("oidc:idp:ada", "Ada", frozenset({Role.TENANT_ADMIN}), tenant="acme-de")
    update = TenantUpdate.model_validate({"ai_disclosure": {"mode": "first_answer"}})
    changes = tenant_changes(update)
    check_changes(actor, changes, Limits())  # no PermissionDenied
    # the setting is replaced as a whole (as limits are): what is not given is the default
    merged = TenantSpec.model_validate({"id": "acme-de", **changes})
    assert merged.ai_disclosure == AiDisclosure(mode="first_answer", language="de")


# -- with the GDPR policy, on the Responses API (the openai SDK, a fake vLLM) --------------------


@pytest.fixture(scope="module")
def responses_gdpr() -> Iterator[tuple[TestClient, ResponsesEngine]]:
    settings = make_settings(privacy={"default_policy": "gdpr-default"})
    tenants = [
        t.model_copy(update={"ai_disclosure": EN}) if t.id == "acme-de" else t
        for t in settings.tenants
    ]
    engine = ResponsesEngine()
    app = create_app(
        settings.model_copy(update={"tenants": tenants}),
        upstream_transport=httpx.MockTransport(FakeEngines(engine)),
    )
    with TestClient(app) as test_client:
        yield test_client, engine


def test_the_notice_comes_before_the_restored_answer_whole_and_streamed(
    responses_gdpr: tuple[TestClient, ResponsesEngine],
) -> None:
    test_client, engine = responses_gdpr
    sdk = openai.OpenAI(
        base_url="http://testserver/v1", api_key=DE_KEY, http_client=test_client, max_retries=0
    )
    said = f"Schreib einen Gruß an {NAME}."
    expected = f"{DEFAULT_NOTICES['en']}\n\nHallo {NAME}!"  # the placeholder restored after it
    assert sdk.responses.create(model="smollm2", input=said).output_text == expected
    assert NAME not in str(engine.bodies[-1])  # the notice changed nothing that is sent
    events = list(sdk.responses.create(model="smollm2", input=said, stream=True))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == expected
    assert [e.text for e in events if e.type == "response.output_text.done"] == [text]
    completed = [e for e in events if e.type == "response.completed"]
    assert completed[0].response.output_text == text
    assert completed[0].response.usage is not None
    assert completed[0].response.usage.output_tokens == USAGE["output_tokens"]  # not billed
    later: list[Any] = [
        {"role": "user", "content": said},
        {"role": "assistant", "content": expected},
        {"role": "user", "content": said},
    ]
    assert sdk.responses.create(model="smollm2", input=later).output_text == f"Hallo {NAME}!"
