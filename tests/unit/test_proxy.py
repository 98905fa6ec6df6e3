"""The inference routes through a fake engine: forwarding, residency, failover, errors."""

from __future__ import annotations

import json

import httpx
from fastapi.testclient import TestClient

from tests.unit.conftest import CHAT, FR_ONLY_KEY, LIMITED_KEY, FakeEngines, auth


def test_chat_is_forwarded_unchanged_and_tagged_with_where_it_ran(
    client: TestClient, engines: FakeEngines
) -> None:
    body = {**CHAT, "temperature": 0.2, "top_k": 5, "guided_choice": ["ja", "nein"]}
    response = client.post("/v1/chat/completions", json=body, headers=auth())

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Hallo!"
    assert json.loads(engines.requests[0].content) == body  # engine-specific fields kept
    assert engines.requests[0].url.path == "/v1/chat/completions"
    assert "authorization" not in engines.requests[0].headers  # the tenant's key stays here
    assert response.headers["x-sovereign-jurisdiction"] in {"DE", "AT"}
    assert response.headers["x-sovereign-site"] in {"de-muc-1", "at-vie-1"}
    assert response.headers["x-request-id"].startswith("req_")
    assert engines.requests[0].headers["x-request-id"] == response.headers["x-request-id"]


def test_de_tenant_never_reaches_the_austrian_pool(
    client: TestClient, engines: FakeEngines
) -> None:
    for _ in range(12):
        assert client.post("/v1/chat/completions", json=CHAT, headers=auth()).status_code == 200
    assert set(engines.hosts) == {"de-1.engine", "de-2.engine"}  # round robin, DE only


def test_completions_and_embeddings_reach_their_paths(
    client: TestClient, engines: FakeEngines
) -> None:
    completion = {"model": "smollm2", "prompt": "Es war einmal", "max_tokens": 5}
    embedding = {"model": "smollm2", "input": ["eins", "zwei"]}
    assert client.post("/v1/completions", json=completion, headers=auth()).status_code == 200
    assert client.post("/v1/embeddings", json=embedding, headers=auth()).status_code == 200
    assert [r.url.path for r in engines.requests] == ["/v1/completions", "/v1/embeddings"]
    assert json.loads(engines.requests[1].content) == embedding


def test_model_outside_the_tenants_jurisdictions_is_refused_before_any_engine(
    client: TestClient, engines: FakeEngines
) -> None:
    response = client.post(
        "/v1/chat/completions", json={**CHAT, "model": "mistral-7b"}, headers=auth()
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "residency_violation"
    assert response.json()["error"]["type"] == "permission_denied"
    assert engines.requests == []


def test_tenant_whose_jurisdiction_has_no_engine_is_refused(
    client: TestClient, engines: FakeEngines
) -> None:
    response = client.post("/v1/chat/completions", json=CHAT, headers=auth(FR_ONLY_KEY))
    assert response.status_code == 403
    assert "FR" in response.json()["error"]["message"]
    assert engines.requests == []


def test_unknown_and_not_allowed_models_are_404(client: TestClient, engines: FakeEngines) -> None:
    unknown = client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-9"}, headers=auth())
    not_allowed = client.post(
        "/v1/chat/completions", json={**CHAT, "model": "llama-70b"}, headers=auth(LIMITED_KEY)
    )
    for response in (unknown, not_allowed):
        assert response.status_code == 404
        assert response.json()["error"] == {
            "message": response.json()["error"]["message"],
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    assert engines.requests == []


def test_connect_failure_fails_over_inside_the_jurisdiction(engines: FakeEngines) -> None:
    from tests.unit.conftest import make_settings

    def first_down(request: httpx.Request) -> httpx.Response:
        if request.url.host == "de-1.engine":
            raise httpx.ConnectError("connection refused", request=request)
        return FakeEngines().handler(request)

    engines.handler = first_down
    from gateway.app import create_app

    app = create_app(make_settings(), upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as client:
        for _ in range(4):
            response = client.post("/v1/chat/completions", json=CHAT, headers=auth())
            assert response.status_code == 200
            assert response.headers["x-sovereign-jurisdiction"] == "DE"
    assert "at-1.engine" not in engines.hosts


def test_all_engines_down_is_503_and_never_crosses_the_border(engines: FakeEngines) -> None:
    from gateway.app import create_app
    from tests.unit.conftest import make_settings

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    engines.handler = refuse
    app = create_app(make_settings(), upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as client:
        response = client.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "no_engine_available"
    assert sorted(engines.hosts) == ["de-1.engine", "de-2.engine"]  # both tried, AT never


def test_engine_4xx_passes_through_and_5xx_becomes_502(
    engines: FakeEngines, client: TestClient
) -> None:
    engines.handler = lambda request: httpx.Response(
        400,
        json={
            "error": {
                "message": "max_tokens is too large",
                "type": "BadRequestError",
                "param": "max_tokens",
                "code": 400,
            }
        },
    )
    bad = client.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "max_tokens is too large"
    assert bad.json()["error"]["param"] == "max_tokens"

    engines.handler = lambda request: httpx.Response(500, text="Internal Server Error")
    failed = client.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert failed.status_code == 502
    assert failed.json()["error"]["type"] == "api_error"
    assert failed.json()["error"]["code"] == "upstream_error"


def test_engine_timeout_is_504(engines: FakeEngines, client: TestClient) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    engines.handler = slow
    response = client.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


def test_request_ids_are_ours_and_the_clients_is_echoed(
    client: TestClient, engines: FakeEngines
) -> None:
    headers = {**auth(), "x-request-id": "trace-abc-12345"}
    first = client.post("/v1/chat/completions", json=CHAT, headers=headers)
    second = client.post("/v1/chat/completions", json=CHAT, headers=headers)
    # A reused client id must not make two requests share an id at the engine.
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert first.headers["x-request-id"].startswith("req_")
    assert first.headers["x-client-request-id"] == "trace-abc-12345"
    assert engines.requests[0].headers["x-request-id"] == first.headers["x-request-id"]
    hostile = {**auth(), "x-request-id": "bad id\twith <html>"}
    response = client.post("/v1/chat/completions", json=CHAT, headers=hostile)
    assert "x-client-request-id" not in response.headers


def test_engines_with_their_own_key_get_it_not_the_tenants(engines: FakeEngines) -> None:
    from gateway.app import create_app
    from tests.unit.conftest import make_settings

    base = make_settings()
    pools = [p.model_dump() for p in base.pools]
    pools[0]["api_key"] = "engine-secret"
    app = create_app(make_settings(pools=pools), upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as client:
        assert client.post("/v1/chat/completions", json=CHAT, headers=auth()).status_code == 200
    assert engines.requests[0].headers["authorization"] == "Bearer engine-secret"
    assert "engine-secret" not in repr(make_settings(pools=pools))
