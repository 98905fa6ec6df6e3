"""The small API surfaces of issue 14 against the real vLLM engine, each compared with what
the engine answers directly: ``/tokenize`` and ``/detokenize`` (httpx: the openai SDK has no
call for them), ``models.list`` and ``models.retrieve`` (the openai SDK), and engine errors
(passed as the engine sent them).

Two gateways: the session's (gdpr-default, the default policy) and one of this module's with
no policy, whose pool also claims a model the engine does not serve (``ghost``), so that the
engine's own 404 can be seen through it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from gateway.auth import hash_key
from tests.e2e.conftest import DE_KEY, MODEL, Gateway
from tests.processes import GatewayProcess, gateway_process
from tests.servers import EngineUnderTest

pytestmark = pytest.mark.engine

PLAIN_KEY = "sk-e2e-plain-tokenize-0001"
GHOST = "ghost"  # in the plain gateway's pool, not served by the engine
EMAIL = "max.mustermann@example.de"
MESSAGES = [
    {"role": "system", "content": "Du bist ein hilfreicher Assistent."},
    {"role": "user", "content": "Wie viele Tokens hat dieser Satz?"},
]


@pytest.fixture(scope="module")
def plain(
    engine: EngineUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    folder: Path = tmp_path_factory.mktemp("plain")
    config = {
        "privacy": {"default_policy": None},
        "telemetry": {"audit_dir": str(folder / "audit")},
        "pools": [{"name": "local-de", "jurisdiction": "DE", "site": "de-local-1",
                   "engines": [engine.base_url], "models": [MODEL, GHOST]}],
        "tenants": [{"id": "plain", "api_keys": [{"id": "p", "hash": hash_key(PLAIN_KEY)}]}],
    }  # fmt: skip
    with gateway_process(config, folder, "plain") as gateway:
        yield gateway


def _post(base_url: str, path: str, body: dict[str, Any], key: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(base_url + path, json=body, headers=headers, timeout=60)


def _both(
    engine: EngineUnderTest, gateway: GatewayProcess, path: str, body: dict[str, Any]
) -> tuple[httpx.Response, httpx.Response]:
    return _post(engine.base_url, path, body, None), _post(gateway.base_url, path, body, PLAIN_KEY)


@pytest.mark.parametrize(
    "body",
    [
        {"model": MODEL, "prompt": "Die Hauptstadt von Deutschland ist Berlin."},
        {"model": MODEL, "prompt": "Hallo", "add_special_tokens": False, "return_token_strs": True},
        {"model": MODEL, "messages": MESSAGES, "return_token_strs": True},
        {"model": MODEL, "messages": MESSAGES, "add_generation_prompt": False},
    ],
    ids=["prompt", "prompt-strs", "messages", "messages-no-generation-prompt"],
)
def test_tokenize_without_a_policy_answers_as_the_engine_does(
    engine: EngineUnderTest, plain: GatewayProcess, body: dict[str, Any]
) -> None:
    direct, through = _both(engine, plain, "/tokenize", body)
    assert direct.status_code == through.status_code == 200, through.text
    assert through.json() == direct.json()
    assert through.json()["count"] == len(through.json()["tokens"]) > 0
    assert through.headers["x-sovereign-jurisdiction"] == "DE"


def test_detokenize_without_a_policy_answers_as_the_engine_does(
    engine: EngineUnderTest, plain: GatewayProcess
) -> None:
    text = "Guten Morgen, Berlin!"
    tokens = _post(engine.base_url, "/tokenize", {"model": MODEL, "prompt": text}, None).json()
    body = {"model": MODEL, "tokens": tokens["tokens"]}
    direct, through = _both(engine, plain, "/detokenize", body)
    assert direct.status_code == through.status_code == 200
    assert through.json() == direct.json()
    assert text in through.json()["prompt"]


def test_under_gdpr_default_tokenize_counts_what_the_chat_costs(gateway: Gateway) -> None:
    """The pseudonymised messages are what the engine tokenizes, and what it gets on the chat:
    the count is the chat's own prompt tokens, not the original text's."""
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": f"Schreib bitte an {EMAIL}, es eilt."}
    ]
    body = {"model": MODEL, "messages": messages}
    tokenized = _post(gateway.base_url, "/tokenize", body, DE_KEY)
    assert tokenized.status_code == 200, tokenized.text
    assert "EMAIL_ADDRESS:pseudonymize=1" in tokenized.headers["x-sovereign-pii-prompt"]
    completion = gateway.client().chat.completions.create(
        model=MODEL,
        messages=messages,
        max_tokens=1,
    )
    assert completion.usage is not None
    assert tokenized.json()["count"] == completion.usage.prompt_tokens


def test_under_gdpr_default_the_original_text_is_counted_differently(
    engine: EngineUnderTest, gateway: Gateway
) -> None:
    body = {"model": MODEL, "prompt": f"Kontakt: {EMAIL}", "return_token_strs": True}
    direct = _post(engine.base_url, "/tokenize", body, None).json()
    through = _post(gateway.base_url, "/tokenize", body, DE_KEY)
    assert through.status_code == 200
    assert through.json()["tokens"] != direct["tokens"]
    assert "mustermann" not in "".join(through.json()["token_strs"])  # the engine never saw it


def test_under_gdpr_default_detokenized_text_passes_the_answer_rules(
    engine: EngineUnderTest, gateway: Gateway
) -> None:
    text = f"Bitte an {EMAIL} schreiben."
    tokens = _post(engine.base_url, "/tokenize", {"model": MODEL, "prompt": text}, None).json()
    body = {"model": MODEL, "tokens": tokens["tokens"]}
    assert EMAIL in _post(engine.base_url, "/detokenize", body, None).json()["prompt"]
    through = _post(gateway.base_url, "/detokenize", body, DE_KEY)
    assert through.status_code == 200
    assert EMAIL not in through.json()["prompt"]
    assert "<EMAIL_ADDRESS>" in through.json()["prompt"]
    assert "EMAIL_ADDRESS:mask=1" in through.headers["x-sovereign-pii-response"]


def _cards(base_url: str, key: str) -> list[dict[str, Any]]:
    """The gateway's cards, once its monitor has read the engine's (it reads them at start)."""
    client = openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0)
    deadline = time.monotonic() + 20
    while True:
        cards = [m.model_dump(exclude_unset=True) for m in client.models.list()]
        if all(c["owned_by"] == "vllm" for c in cards if c["id"] == MODEL):
            return cards
        assert time.monotonic() < deadline, cards
        time.sleep(0.5)


def _comparable(card: dict[str, Any]) -> dict[str, Any]:
    """vLLM makes ``created`` and each permission's id and time anew on every call."""
    permissions = [
        {k: v for k, v in p.items() if k not in ("id", "created")} for p in card["permission"]
    ]
    return {**{k: v for k, v in card.items() if k != "created"}, "permission": permissions}


def test_the_model_cards_are_the_engines(engine: EngineUnderTest, gateway: Gateway) -> None:
    direct = openai.OpenAI(base_url=engine.base_url + "/v1", api_key="none", max_retries=0)
    (expected,) = [m.model_dump(exclude_unset=True) for m in direct.models.list() if m.id == MODEL]
    (listed,) = _cards(gateway.base_url, DE_KEY)
    assert _comparable(listed) == _comparable(expected)
    assert listed["max_model_len"] > 0
    assert listed["root"]
    retrieved = gateway.client().models.retrieve(MODEL).model_dump(exclude_unset=True)
    assert retrieved == listed


@pytest.mark.parametrize("model", ["gpt-4o", "meta-llama/Llama-3.1-8B"])
def test_an_unknown_model_is_not_found(gateway: Gateway, model: str) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        gateway.client().models.retrieve(model)
    assert raised.value.code == "model_not_found"


def test_a_model_no_engine_reported_gets_the_gateways_card(plain: GatewayProcess) -> None:
    cards = {c["id"]: c for c in _cards(plain.base_url, PLAIN_KEY)}
    assert cards[GHOST] == {
        "id": GHOST,
        "object": "model",
        "created": 0,
        "owned_by": "sovereign-gateway",
        "root": None,
        "parent": None,
        "max_model_len": None,
        "permission": [],
    }


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/chat/completions",
            {"model": MODEL, "messages": MESSAGES, "logprobs": True, "top_logprobs": 50},
        ),
        (
            "/tokenize",
            {"model": MODEL, "messages": MESSAGES, "add_generation_prompt": True,
             "continue_final_message": True},
        ),
        ("/v1/chat/completions", {"model": GHOST, "messages": MESSAGES, "max_tokens": 1}),
        ("/tokenize", {"model": GHOST, "prompt": "Hallo"}),
    ],
    ids=["chat-400", "tokenize-400", "chat-404", "tokenize-404"],
)  # fmt: skip
def test_engine_errors_pass_as_the_engine_sent_them(
    engine: EngineUnderTest, plain: GatewayProcess, path: str, body: dict[str, Any]
) -> None:
    direct, through = _both(engine, plain, path, body)
    assert direct.status_code in (400, 404), direct.text
    assert through.status_code == direct.status_code
    sent = direct.json()
    # The one part the gateway drops: vLLM's list of every model its engine serves, appended
    # to its 404 ("Valid aliases: ..."), the deployment's and not the tenant's.
    message = sent["error"]["message"]
    sent["error"]["message"] = message.split(" Valid aliases:")[0]
    assert through.json() == sent  # message, type, param and code (an int) alike
