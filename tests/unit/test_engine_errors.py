"""An engine's error reaches the client as the engine sent it (issue 14): its ``code`` keeps
its JSON type (vLLM sends the status as an int), its message is kept whatever shape the body
has (FastAPI's ``{"detail": ...}`` for a path or model the engine does not serve), and only
an engine's 5xx becomes the gateway's own 502. Before and after a stream would start, alike.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.upstream.errors import from_engine_response
from tests.unit.conftest import CHAT, FakeEngines, auth

VLLM_400 = {
    "error": {
        "message": "top_logprobs must be at most 20",
        "type": "BadRequestError",
        "param": "top_logprobs",
        "code": 400,
    }
}
VLLM_404 = {
    "error": {
        "message": "The model `smollm2` does not exist.",
        "type": "NotFoundError",
        "param": "model",
        "code": 404,
    }
}
OLD_STYLE = {"object": "error", "message": "old style", "type": "BadRequestError", "code": 400}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("body", [VLLM_400, VLLM_404], ids=["400", "404"])
def test_the_engines_error_object_is_passed_as_sent(
    client: TestClient, engines: FakeEngines, body: dict[str, Any], stream: bool
) -> None:
    status = body["error"]["code"]
    engines.handler = lambda request: httpx.Response(status, json=body)
    answer = client.post("/v1/chat/completions", json={**CHAT, "stream": stream}, headers=auth())
    assert answer.status_code == status
    assert answer.json() == body  # the code an int, as vLLM sends it; nothing renamed


def test_a_fastapi_detail_body_keeps_its_message(client: TestClient, engines: FakeEngines) -> None:
    engines.handler = lambda request: httpx.Response(404, json={"detail": "Not Found"})
    answer = client.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["message"] == "Not Found"  # not a generic "The engine answered with HTTP 404"
    assert error["code"] is None  # the engine sent none: none is made up
    assert error["type"] == "invalid_request_error"


def test_the_older_flat_error_shape_keeps_its_fields() -> None:
    error = from_engine_response(400, orjson.dumps(OLD_STYLE))
    assert error.status == 400
    assert error.body() == {
        "error": {"message": "old style", "type": "BadRequestError", "param": None, "code": 400}
    }


@pytest.mark.parametrize(
    ("detail", "message"),
    [
        ([{"loc": ["body", "tokens"], "msg": "Field required", "type": "missing"}],
         "Field required"),
        ("", "The engine answered with HTTP 422."),
    ],
)  # fmt: skip
def test_a_validation_detail_gives_its_first_message(detail: Any, message: str) -> None:
    error = from_engine_response(422, orjson.dumps({"detail": detail}))
    assert error.body()["error"]["message"] == message


def test_an_engine_5xx_is_our_502_with_its_message_kept() -> None:
    error = from_engine_response(500, orjson.dumps({"error": {"message": "CUDA OOM", "code": 500}}))
    assert error.status == 502
    assert error.body()["error"] == {
        "message": "CUDA OOM",
        "type": "api_error",
        "param": None,
        "code": "upstream_error",  # ours: the gateway answers 502, not the engine's 500
    }


def test_a_body_that_is_not_an_error_object_gets_our_message_and_code() -> None:
    error = from_engine_response(404, b"<html>nginx</html>")
    assert error.body()["error"] == {
        "message": "The engine answered with HTTP 404.",
        "type": "invalid_request_error",
        "param": None,
        "code": "upstream_error",
    }


def test_an_error_code_keeps_json_scalars_only() -> None:
    body = {"error": {"message": "m", "type": "t", "code": {"nested": 1}, "param": 7}}
    error = from_engine_response(400, orjson.dumps(body))
    assert error.body()["error"]["code"] is None  # not a scalar: not an error code
    assert error.body()["error"]["param"] == "7"


def test_an_engines_list_of_served_models_is_not_passed_on() -> None:
    """vLLM 0.32's 404 for a model it does not serve lists every name it serves: the
    deployment's, not the tenant's (whose allowed models may be fewer). The rest is kept."""
    message = "The model `smollm2-lora` does not exist. Valid aliases: smollm2, secret-model."
    body = {"error": {**VLLM_404["error"], "message": message}}
    error = from_engine_response(404, orjson.dumps(body))
    assert error.message == "The model `smollm2-lora` does not exist."
    assert (error.status, error.param) == (404, "model")
