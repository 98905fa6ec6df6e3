"""The tokenizer routes through the whole request path (issue 14): vLLM's ``/tokenize`` and
``/detokenize`` at its root, and Anthropic's ``/v1/messages/count_tokens``; proxied to the
tenant's engines only; the tenant's policy on every text a tokenize or count request sends
(the engine counts what it would get on chat or messages), the answer rules on the text a
detokenize answer decoded; admitted and metered as requests of zero tokens. A fake engine
behind ``httpx.MockTransport``; the real analyzer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth import hash_key
from gateway.settings import Settings
from tests.unit.conftest import DE_KEY, FR_ONLY_KEY, LIMITED_KEY, FakeEngines, auth, chat_ok, ledger
from tests.unit.conftest import make_settings as base_settings

OPEN, LIMITS = "sk-tokenize-open-01", "sk-tokenize-limits-02"
EMAIL, IBAN = "max.mustermann@example.de", "DE89 3704 0044 0532 0130 00"
SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
TOKENS = {"count": 3, "max_model_len": 2048, "tokens": [9906, 11, 1917], "token_strs": None}
COUNT_TOKENS = "/v1/messages/count_tokens"
DECODED = f"Schreiben Sie an {EMAIL} wegen der IBAN {IBAN}."


def vllm(request: httpx.Request) -> httpx.Response:
    """An engine serving vLLM's tokenizer routes, and chat."""
    if request.url.path == "/tokenize":
        return httpx.Response(200, json=TOKENS)
    if request.url.path == "/detokenize":
        return httpx.Response(200, json={"prompt": DECODED})
    if request.url.path == COUNT_TOKENS:
        return httpx.Response(200, json={"input_tokens": 17})
    return chat_ok(request)


def make_settings() -> Settings:
    def tenant(tid: str, key: str, **spec: Any) -> dict[str, Any]:
        return {"id": tid, "api_keys": [{"id": tid, "hash": hash_key(key)}], **spec}

    gdpr = {"policy": "gdpr-default"}
    return base_settings(
        privacy={"default_policy": None},  # the tenants below that name none have none
        tenants=[
            tenant("acme-de", DE_KEY, **gdpr),
            tenant("fr-only", FR_ONLY_KEY, allowed_jurisdictions=["FR"], **gdpr),
            tenant(
                "limited",
                LIMITED_KEY,
                allowed_models=["smollm2"],
                allowed_jurisdictions=["DE", "AT"],
                **gdpr,
            ),
            tenant("open", OPEN, allowed_jurisdictions=["DE", "AT"]),
            tenant("metered", LIMITS, limits={"requests_per_minute": 2, "tokens_per_minute": 1000}),
        ],
    )


@pytest.fixture
def engines() -> FakeEngines:
    return FakeEngines(vllm)


@pytest.fixture
def client(engines: FakeEngines) -> Iterator[TestClient]:
    app = create_app(make_settings(), upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as test_client:
        yield test_client


PROMPT = {"model": "smollm2", "prompt": "Hallo Welt", "return_token_strs": True}
CHAT = {"model": "smollm2", "messages": [{"role": "user", "content": "Hallo"}]}


@pytest.mark.parametrize("body", [PROMPT, CHAT], ids=["prompt", "messages"])
def test_tokenize_reaches_the_engines_root_route_unchanged(
    client: TestClient, engines: FakeEngines, body: dict[str, Any]
) -> None:
    answer = client.post("/tokenize", json=body, headers=auth(OPEN))
    assert answer.status_code == 200, answer.text
    assert answer.json() == TOKENS
    request = engines.requests[-1]
    assert (request.url.host, request.url.path) in {
        ("de-1.engine", "/tokenize"),
        ("de-2.engine", "/tokenize"),
        ("at-1.engine", "/tokenize"),
    }
    assert engines.last_body() == body
    assert answer.headers["x-sovereign-jurisdiction"] in {"DE", "AT"}


def test_detokenize_reaches_the_engine_and_answers_as_it_did(
    client: TestClient, engines: FakeEngines
) -> None:
    body = {"model": "smollm2", "tokens": [9906, 11, 1917]}
    answer = client.post("/detokenize", json=body, headers=auth(OPEN))
    assert answer.status_code == 200
    assert answer.json() == {"prompt": DECODED}  # no policy: as the engine decoded it
    assert engines.requests[-1].url.path == "/detokenize"
    assert engines.last_body() == body


@pytest.mark.parametrize("path", ["/tokenize", "/detokenize"])
def test_authentication_and_residency_come_first(
    client: TestClient, engines: FakeEngines, path: str
) -> None:
    body = PROMPT if path == "/tokenize" else {"model": "smollm2", "tokens": [1]}
    assert client.post(path, json=body).status_code == 401
    # Served, but only outside the tenant's jurisdictions: refused, never sent elsewhere.
    elsewhere = client.post(path, json={**body, "model": "mistral-7b"}, headers=auth(DE_KEY))
    assert elsewhere.status_code == 403
    assert elsewhere.json()["error"]["code"] == "residency_violation"
    assert client.post(path, json=body, headers=auth(FR_ONLY_KEY)).status_code == 403
    hidden = client.post(path, json={**body, "model": "llama-70b"}, headers=auth(LIMITED_KEY))
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "model_not_found"
    assert engines.requests == []


def test_a_de_tenants_tokenize_goes_only_to_german_engines(
    client: TestClient, engines: FakeEngines
) -> None:
    for _ in range(6):
        assert client.post("/tokenize", json=PROMPT, headers=auth(DE_KEY)).status_code == 200
    assert set(engines.hosts) <= {"de-1.engine", "de-2.engine"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**PROMPT, "messages": CHAT["messages"]}, None),  # both: vLLM would pick one
        ({"model": "smollm2"}, None),  # neither
        ({"prompt": "Hallo"}, "model"),  # the gateway routes on the model
        ({"model": "smollm2", "prompt": ["a", "b"]}, "prompt"),  # vLLM takes one text
    ],
)
def test_tokenize_bodies_are_checked(
    client: TestClient, engines: FakeEngines, body: dict[str, Any], param: str | None
) -> None:
    answer = client.post("/tokenize", json=body, headers=auth(OPEN))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param
    assert engines.requests == []


@pytest.mark.parametrize("tokens", [[-1], [2**63], ["a"], None])
def test_detokenize_takes_token_ids_only(
    client: TestClient, engines: FakeEngines, tokens: Any
) -> None:
    answer = client.post("/detokenize", json={"model": "smollm2", "tokens": tokens}, headers=auth())
    assert answer.status_code == 400
    assert engines.requests == []


def test_under_the_policy_tokenize_counts_what_the_chat_would_send(
    client: TestClient, engines: FakeEngines
) -> None:
    """The same messages, tokenized then sent as a chat: the engine receives the same
    pseudonymised text both times, so the count is the chat's own."""
    messages = [{"role": "user", "content": f"Bitte schreibe an {EMAIL}, IBAN {IBAN}."}]
    tokenized = client.post(
        "/tokenize", json={"model": "smollm2", "messages": messages}, headers=auth()
    )
    assert tokenized.status_code == 200, tokenized.text
    assert tokenized.json() == TOKENS  # token ids and strings: as the engine answered
    pii = tokenized.headers["x-sovereign-pii-prompt"]
    assert pii == "EMAIL_ADDRESS:pseudonymize=1,IBAN:pseudonymize=1"
    to_tokenize = engines.last_body()["messages"][0]["content"]
    assert EMAIL not in to_tokenize
    assert IBAN not in to_tokenize
    chat = {"model": "smollm2", "messages": messages}
    assert client.post("/v1/chat/completions", json=chat, headers=auth()).status_code == 200
    assert engines.last_body()["messages"][0]["content"] == to_tokenize


def test_under_the_policy_a_tokenize_prompt_is_pseudonymised_or_refused(
    client: TestClient, engines: FakeEngines
) -> None:
    prompt = {"model": "smollm2", "prompt": f"Kontakt: {EMAIL}"}
    assert client.post("/tokenize", json=prompt, headers=auth()).status_code == 200
    assert EMAIL not in engines.last_body()["prompt"]
    sent = len(engines.requests)
    blocked = client.post(
        "/tokenize", json={"model": "smollm2", "prompt": f"token {SECRET}"}, headers=auth()
    )
    assert blocked.status_code == 400
    assert blocked.json()["error"]["code"] == "pii_blocked"
    template = {**CHAT, "chat_template": "{{ messages }} Support: " + EMAIL}
    assert client.post("/tokenize", json=template, headers=auth()).status_code == 200
    assert EMAIL not in engines.last_body()["chat_template"]
    unknown = client.post("/tokenize", json={**CHAT, "extra": EMAIL}, headers=auth())
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "unknown_field"
    assert len(engines.requests) == sent + 1  # only the template went


def test_under_the_policy_the_decoded_text_passes_the_answer_rules(
    client: TestClient, engines: FakeEngines
) -> None:
    answer = client.post("/detokenize", json={"model": "smollm2", "tokens": [1, 2]}, headers=auth())
    assert answer.status_code == 200
    # gdpr-default masks contacts and identifiers in answers (and flags the rest)
    assert answer.json() == {"prompt": "Schreiben Sie an <EMAIL_ADDRESS> wegen der IBAN <IBAN>."}
    assert "x-sovereign-pii-response" in answer.headers


def test_zero_token_requests_count_as_requests_not_tokens(
    client: TestClient, engines: FakeEngines
) -> None:
    first = client.post("/tokenize", json=PROMPT, headers=auth(LIMITS))
    assert first.status_code == 200
    assert first.headers["x-ratelimit-remaining-tokens"] == "1000"  # nothing reserved
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    body = {"model": "smollm2", "tokens": [1, 2, 3]}
    assert client.post("/detokenize", json=body, headers=auth(LIMITS)).status_code == 200
    third = client.post("/tokenize", json=PROMPT, headers=auth(LIMITS))
    assert third.status_code == 429  # two requests a minute, whatever they cost
    records = sorted(ledger(client, "metered"), key=lambda r: r.started_at)
    assert [(r.endpoint, r.status) for r in records] == [("tokenize", "ok"), ("detokenize", "ok")]
    assert all(r.prompt_tokens == r.completion_tokens == r.estimated_tokens == 0 for r in records)
    assert all(r.jurisdiction in {"DE", "AT"} and r.engine for r in records)


def test_an_engine_error_is_passed_as_sent_and_recorded_failed(
    client: TestClient, engines: FakeEngines
) -> None:
    error = {
        "error": {
            "message": "Cannot set both `continue_final_message` and `add_generation_prompt`.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        }
    }
    engines.handler = lambda request: httpx.Response(400, json=error)
    body = {**CHAT, "continue_final_message": True, "add_generation_prompt": True}
    answer = client.post("/tokenize", json=body, headers=auth(OPEN))
    assert answer.status_code == 400
    assert answer.json() == error
    (record,) = ledger(client, "open")
    assert (record.endpoint, record.status, record.http_status) == ("tokenize", "failed", 400)


def test_both_routes_are_in_the_openapi_document(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path, fields in (("/tokenize", {"prompt", "messages"}), ("/detokenize", {"tokens"})):
        body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        schema = document["components"]["schemas"][body["schema"]["$ref"].split("/")[-1]]
        assert fields <= set(schema["properties"])


# Anthropic's messages.count_tokens: a tokenizer route in Anthropic's API (x-api-key, its
# error shape), the conversation as /v1/messages would send it.
MESSAGE: dict[str, Any] = {
    "model": "smollm2",
    "system": "Du bist ein hilfreicher Assistent.",
    "messages": [{"role": "user", "content": "Nenne drei Farben."}],
}


def test_count_tokens_reaches_the_engine_unchanged_and_answers_as_it_did(
    client: TestClient, engines: FakeEngines
) -> None:
    answer = client.post(COUNT_TOKENS, json=MESSAGE, headers={"x-api-key": OPEN})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"input_tokens": 17}
    assert engines.requests[-1].url.path == COUNT_TOKENS
    assert engines.last_body() == MESSAGE
    assert answer.headers["x-sovereign-jurisdiction"] in {"DE", "AT"}
    (record,) = [r for r in ledger(client, "open") if r.endpoint == "messages.count_tokens"]
    # The engine ran its tokenizer only: a request of zero tokens, not 17 prompt tokens.
    assert (record.status, record.prompt_tokens, record.completion_tokens) == ("ok", 0, 0)


def test_errors_come_in_anthropics_shape_and_nothing_reaches_an_engine(
    client: TestClient, engines: FakeEngines
) -> None:
    unauthenticated = client.post(COUNT_TOKENS, json=MESSAGE)
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["type"] == "error"
    assert unauthenticated.json()["error"]["type"] == "authentication_error"
    elsewhere = client.post(COUNT_TOKENS, json=MESSAGE, headers={"x-api-key": FR_ONLY_KEY})
    assert elsewhere.status_code == 403
    no_messages = client.post(COUNT_TOKENS, json={"model": "smollm2"}, headers={"x-api-key": OPEN})
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["type"] == "invalid_request_error"
    assert engines.requests == []


def test_under_the_policy_the_engine_counts_what_the_message_would_send(
    client: TestClient, engines: FakeEngines
) -> None:
    messages = [{"role": "user", "content": f"Bitte schreibe an {EMAIL}, IBAN {IBAN}."}]
    body = {"model": "smollm2", "messages": messages}
    counted = client.post(COUNT_TOKENS, json=body, headers={"x-api-key": DE_KEY})
    assert counted.status_code == 200, counted.text
    assert counted.headers["x-sovereign-pii-prompt"] == (
        "EMAIL_ADDRESS:pseudonymize=1,IBAN:pseudonymize=1"
    )
    to_count = engines.last_body()["messages"][0]["content"]
    assert EMAIL not in to_count
    assert IBAN not in to_count
    whole = {**body, "max_tokens": 8}
    client.post("/v1/messages", json=whole, headers={"x-api-key": DE_KEY})
    assert engines.last_body()["messages"][0]["content"] == to_count
