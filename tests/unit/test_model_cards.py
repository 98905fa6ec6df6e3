"""``GET /v1/models`` and ``GET /v1/models/{id}`` (issue 14): the models a tenant may reach,
each with the card vLLM reports for it (``max_model_len``, ``root``, ``parent``,
``permission``, ``owned_by``, ``created``), read by the engine monitor from an engine the
tenant may reach; any other id is OpenAI's 404 ``model_not_found``. Also through the openai
SDK (``models.retrieve``, ``models.list``), over the app in process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.openai.models import model_card
from gateway.resources import Resources
from gateway.topology import Topology
from tests.unit.conftest import (
    DE_KEY,
    FR_ONLY_KEY,
    IDLE_METRICS,
    LIMITED_KEY,
    FakeEngines,
    auth,
    make_settings,
)

PERMISSION = {
    "id": "modelperm-8f6a",
    "object": "model_permission",
    "created": 1765000000,
    "allow_create_engine": False,
    "allow_sampling": True,
    "allow_logprobs": True,
    "allow_search_indices": False,
    "allow_view": True,
    "allow_fine_tuning": False,
    "organization": "*",
    "group": None,
    "is_blocking": False,
}


def vllm_card(model: str, host: str) -> dict[str, Any]:
    """vLLM 0.32's ModelCard, as its /v1/models lists it (``root``: where the engine loaded
    the model from; here its host, to tell engines apart)."""
    return {
        "id": model,
        "object": "model",
        "created": 1765000000,
        "owned_by": "vllm",
        "root": f"/models/{host}/{model}",
        "parent": None,
        "max_model_len": 4096,
        "permission": [PERMISSION],
    }


def scrape(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/models":
        models = ("smollm2", "llama-70b", "mistral-7b", "qwen2.5:7b")
        data = [vllm_card(m, request.url.host) for m in models]
        return httpx.Response(200, json={"object": "list", "data": data})
    if request.url.path == "/metrics":
        return httpx.Response(200, text=IDLE_METRICS)
    return httpx.Response(200)


def settings(**pool_overrides: Any) -> Any:
    base = make_settings()
    pools = [p.model_dump(mode="json") for p in base.pools]
    pools[0]["models"] = [*pools[0]["models"], "qwen2.5:7b"]
    pools[0].update(pool_overrides)
    return make_settings(pools=pools)


def _client(engines: FakeEngines, **pool_overrides: Any) -> Iterator[TestClient]:
    app = create_app(settings(**pool_overrides), upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as client:
        portal = client.portal
        assert portal is not None
        resources: Resources = client.app_state["resources"]
        portal.call(resources.router.monitor.refresh)  # its cards read, whatever the timing
        yield client


@pytest.fixture
def engines() -> FakeEngines:
    fake = FakeEngines()
    fake.scrape = scrape
    return fake


@pytest.fixture
def client(engines: FakeEngines) -> Iterator[TestClient]:
    yield from _client(engines)


def _sdk(client: TestClient, key: str = DE_KEY) -> openai.OpenAI:
    return openai.OpenAI(
        base_url="http://testserver/v1", api_key=key, http_client=client, max_retries=0
    )


def test_the_list_passes_the_engines_cards_for_the_tenants_models(client: TestClient) -> None:
    listed = client.get("/v1/models", headers=auth()).json()
    assert listed["object"] == "list"
    # A DE tenant: the German pool's models, with a German engine's card (never Austria's).
    assert [card["id"] for card in listed["data"]] == ["llama-70b", "qwen2.5:7b", "smollm2"]
    for card in listed["data"]:
        assert card == vllm_card(card["id"], "de-1.engine")


def test_retrieve_answers_the_listed_card(client: TestClient) -> None:
    listed = {c["id"]: c for c in client.get("/v1/models", headers=auth()).json()["data"]}
    for model in ("smollm2", "qwen2.5:7b"):
        answer = client.get(f"/v1/models/{model}", headers=auth())
        assert answer.status_code == 200
        assert answer.json() == listed[model]


@pytest.mark.parametrize(
    ("key", "model"),
    [
        (DE_KEY, "gpt-4o"),  # nobody serves it
        (DE_KEY, "mistral-7b"),  # served, but only outside the tenant's jurisdictions
        (LIMITED_KEY, "llama-70b"),  # served, but not allowed to this tenant
        (FR_ONLY_KEY, "smollm2"),  # no pool in the tenant's jurisdictions
        (DE_KEY, "meta-llama/Llama-3.1-8B"),  # a Hugging Face name, slash and all
    ],
)
def test_an_id_the_tenant_cannot_reach_is_openais_404(
    client: TestClient, key: str, model: str
) -> None:
    answer = client.get(f"/v1/models/{model}", headers=auth(key))
    assert answer.status_code == 404
    assert answer.json() == {
        "error": {
            "message": f"The model '{model}' does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


def test_both_need_a_key(client: TestClient) -> None:
    assert client.get("/v1/models").status_code == 401
    assert client.get("/v1/models/smollm2").status_code == 401


def test_the_openai_sdk_retrieves_lists_and_raises_not_found(client: TestClient) -> None:
    sdk = _sdk(client)
    model = sdk.models.retrieve("smollm2")
    assert (model.id, model.owned_by, model.created) == ("smollm2", "vllm", 1765000000)
    extra = model.model_extra or {}
    assert extra["max_model_len"] == 4096
    assert extra["root"] == "/models/de-1.engine/smollm2"
    assert [m.id for m in sdk.models.list()] == ["llama-70b", "qwen2.5:7b", "smollm2"]
    assert sdk.models.retrieve("qwen2.5:7b").id == "qwen2.5:7b"
    with pytest.raises(openai.NotFoundError) as raised:
        sdk.models.retrieve("mistral-7b")
    assert raised.value.code == "model_not_found"


def test_a_configured_context_length_is_the_one_the_card_shows(engines: FakeEngines) -> None:
    for client in _client(engines, max_model_len=2048):
        card = client.get("/v1/models/smollm2", headers=auth()).json()
        assert card == {**vllm_card("smollm2", "de-1.engine"), "max_model_len": 2048}


def test_before_any_engine_reported_a_model_its_card_has_the_same_fields() -> None:
    engines = Topology.from_settings(settings()).engines[:2]
    assert model_card("smollm2", engines, None) == {
        "id": "smollm2",
        "object": "model",
        "created": 0,
        "owned_by": "sovereign-gateway",
        "root": None,
        "parent": None,
        "max_model_len": None,
        "permission": [],
    }
    reported = {**vllm_card("other-name", "x"), "extra_field": [1]}
    card = model_card("smollm2", engines, reported)
    assert (card["id"], card["extra_field"]) == ("smollm2", [1])  # the id is ours; rest as sent
