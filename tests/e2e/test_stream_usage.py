"""Streams through the gateway carry the usage fields vLLM sends directly, for every
``stream_options`` a client may set, in both disconnect modes (issue 14).

The gateway asks the engine for more usage than most clients do (the final chunk always, and
per-chunk usage under ``abort``) and takes out what the client did not ask for. Here the same
greedy request goes to the real engine directly and through the gateway (no policy, so the
engine's bytes are relayed as they come): the events must be equal byte for byte but for the
request id and creation time. The unit tests' fake stream (``tests/unit/vllm_stream.py``) is
checked against the engine's own bytes too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.auth import hash_key
from tests.processes import GatewayProcess, gateway_process
from tests.servers import EngineUnderTest
from tests.unit.vllm_stream import chat_stream

pytestmark = pytest.mark.engine

ABORT_KEY = f"sk-usage-abort-{uuid.uuid4().hex}"
FINISH_KEY = f"sk-usage-finish-{uuid.uuid4().hex}"
OPTIONS: list[Any] = [
    None,
    {"include_usage": True},
    {"continuous_usage_stats": True},
    {"include_usage": True, "continuous_usage_stats": True},
]
_VARYING = re.compile(rb'"id":"[^"]*"|"created":[0-9]+|"system_fingerprint":"[^"]*"')
_TEXT = re.compile(rb'"content":"(?:[^"\\]|\\.)*"')
_COUNTS = re.compile(rb'"(?:total|completion)_tokens":[0-9]+')


@pytest.fixture(scope="module")
def plain(
    engine: EngineUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    folder: Path = tmp_path_factory.mktemp("stream-usage")
    config = {
        "privacy": {"default_policy": None},  # the engine's bytes, relayed as they come
        "metering": {"spool_dir": str(folder / "spool")},  # on_client_disconnect: abort
        "pools": [{"name": "local-de", "jurisdiction": "DE", "site": "de-local-1",
                   "engines": [engine.base_url], "models": ["smollm2"]}],
        "tenants": [
            {"id": "usage-abort", "api_keys": [{"id": "ua-1", "hash": hash_key(ABORT_KEY)}]},
            {"id": "usage-finish", "on_client_disconnect": "finish",
             "api_keys": [{"id": "uf-1", "hash": hash_key(FINISH_KEY)}]},
        ],
    }  # fmt: skip
    with gateway_process(config, folder, "stream-usage") as gateway:
        yield gateway


def _events(base_url: str, options: Any, key: str | None = None) -> list[bytes]:
    body: dict[str, Any] = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Count from one to ten."}],
        "max_tokens": 8,
        "temperature": 0,
        "stream": True,
    }
    if options is not None:
        body["stream_options"] = options
    headers = {"authorization": f"Bearer {key}"} if key else {}
    with (
        httpx.Client(timeout=60) as client,
        client.stream("POST", base_url + "/v1/chat/completions", json=body, headers=headers) as r,
    ):
        assert r.status_code == 200
        data = b"".join(r.iter_bytes())
    return [e + b"\n\n" for e in data.split(b"\n\n") if e]


def _normalised(events: list[bytes]) -> list[bytes]:
    return [_VARYING.sub(b"", e) for e in events]


def _shape(events: list[bytes]) -> list[bytes]:
    """The events without what varies from run to run: ids, times, the texts and counts (the
    engine may put several tokens in one chunk when it is busy), runs of alike events as one."""
    shapes: list[bytes] = []
    for event in _normalised(events):
        event = _TEXT.sub(b'"content":""', event)
        event = _COUNTS.sub(b"", event)
        if not shapes or shapes[-1] != event:
            shapes.append(event)
    return shapes


def _said(events: list[bytes]) -> tuple[str, list[Any]]:
    """The answer's text, and the usage of the final usage chunk (if any)."""
    documents = [orjson.loads(e[6:]) for e in events if e.startswith(b"data: {")]
    text = "".join(d["choices"][0]["delta"].get("content", "") for d in documents if d["choices"])
    return text, [d["usage"] for d in documents if not d["choices"] and "usage" in d]


@pytest.mark.parametrize("options", OPTIONS)
def test_the_gateway_relays_the_usage_fields_vllm_sends_directly(
    plain: GatewayProcess, engine: EngineUnderTest, options: Any
) -> None:
    direct = _events(engine.base_url, options)
    for key in (ABORT_KEY, FINISH_KEY):
        through = _events(plain.base_url, options, key)
        assert _shape(through) == _shape(direct), key
        assert _said(through) == _said(direct), key


@pytest.mark.parametrize("options", OPTIONS)
def test_the_unit_tests_fake_stream_is_the_engines_own(
    engine: EngineUnderTest, options: Any
) -> None:
    direct = _events(engine.base_url, options)
    documents = [orjson.loads(e[6:]) for e in direct[:-1]]  # all but [DONE]
    choices = [d["choices"][0] for d in documents if d["choices"]]
    texts = [c["delta"]["content"] for c in choices[1:]]  # after the role chunk
    usages = [d["usage"] for d in documents if d.get("usage")]
    prompt = usages[-1]["prompt_tokens"] if usages else 9  # not shown without usage
    fake = chat_stream(options, texts, prompt=prompt, finish=choices[-1]["finish_reason"])
    assert _normalised(direct) == _normalised(fake)
