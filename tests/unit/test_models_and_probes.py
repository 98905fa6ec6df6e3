from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from gateway.app import create_app
from tests.unit.conftest import (
    FR_ONLY_KEY,
    LIMITED_KEY,
    FakeEngines,
    auth,
    make_settings,
    scrape_ok,
)


def _ids(client: TestClient, key: str) -> list[str]:
    response = client.get("/v1/models", headers=auth(key))
    assert response.status_code == 200
    assert response.json()["object"] == "list"
    return [m["id"] for m in response.json()["data"]]


def test_models_are_those_the_tenant_may_reach(client: TestClient) -> None:
    from tests.unit.conftest import DE_KEY

    assert _ids(client, DE_KEY) == ["llama-70b", "smollm2"]  # not AT's mistral-7b
    assert _ids(client, LIMITED_KEY) == ["smollm2"]
    assert _ids(client, FR_ONLY_KEY) == []


def test_readyz_reflects_engine_reachability(engines: FakeEngines) -> None:
    def only_at_up(request: httpx.Request) -> httpx.Response:
        if request.url.host == "at-1.engine":
            return scrape_ok(request)
        raise httpx.ConnectError("down", request=request)

    engines.scrape = only_at_up
    app = create_app(make_settings(), upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as client:
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "engines_up": 1, "engines_total": 3}

    engines.scrape = lambda request: httpx.Response(503)
    app = create_app(make_settings(), upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
