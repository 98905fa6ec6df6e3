"""Metering against the real vLLM engine: the ledger's token totals equal the engine's own
counters exactly, after streams, non-streams and streams the client abandoned."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from gateway.auth import hash_key
from gateway.core.usage import UsageRecord
from tests.processes import SYSTEM_REDIS, VAULT_KEY, GatewayProcess, gateway_process, ledger
from tests.servers import EngineUnderTest, engine_metric

pytestmark = pytest.mark.engine

TENANT = f"meter-{uuid.uuid4().hex[:8]}"
KEY = f"sk-meter-{uuid.uuid4().hex}"
MODEL = "smollm2"


@pytest.fixture(scope="module")
def metered(
    engine: EngineUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    folder: Path = tmp_path_factory.mktemp("metered")
    config = {
        "store": {"redis_url": SYSTEM_REDIS, "jurisdiction": "DE", "operator": "test"},
            "security": {"pseudonym_key": VAULT_KEY},
        "metering": {"spool_dir": str(folder / "spool")},  # on_client_disconnect: finish
        "pools": [{"name": "local-de", "jurisdiction": "DE", "site": "de-local-1",
                   "engines": [engine.base_url], "models": [MODEL]}],
        "tenants": [{"id": TENANT, "limits": {"tokens_per_minute": 1_000_000},
                     "api_keys": [{"id": f"{TENANT}-1", "hash": hash_key(KEY)}]}],
    }  # fmt: skip
    with gateway_process(config, folder, "metered") as gateway:
        yield gateway


def _ledger() -> list[UsageRecord]:
    return ledger(SYSTEM_REDIS, TENANT)


def _counters(engine: EngineUnderTest) -> tuple[float, float]:
    return (
        engine_metric(engine, "vllm:prompt_tokens_total"),
        engine_metric(engine, "vllm:generation_tokens_total"),
    )


def _wait_until(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _abandon_stream(gateway: GatewayProcess, prompt: str, events: int) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 60,
        "ignore_eos": True,  # vLLM: exactly 60 tokens, generated after the client left
        "stream": True,
    }
    headers = {"authorization": "Bearer " + KEY}
    with (
        httpx.Client(timeout=60) as client,
        client.stream("POST", gateway.base_url + "/v1/chat/completions", json=body,
                      headers=headers) as response,
    ):  # fmt: skip
        assert response.status_code == 200
        lines = response.iter_lines()
        seen = 0
        while seen < events:
            seen += next(lines).startswith("data: ")
    # Leaving the block closed the connection mid-stream.


def test_the_ledger_equals_the_engines_own_token_counters(
    metered: GatewayProcess, engine: EngineUnderTest
) -> None:
    _wait_until(lambda: engine_metric(engine, "vllm:num_requests_running") == 0, 60)
    prompt_before, generated_before = _counters(engine)
    client = metered.client(KEY)
    user: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "Name three rivers in Germany."}
    ]
    for n in range(2):
        client.chat.completions.create(model=MODEL, messages=user, max_tokens=12 + n)
    client.completions.create(model=MODEL, prompt="Die Hauptstadt von Bayern ist", max_tokens=9)
    # Streams whose client did not ask for usage: the engine's usage chunk is not shown.
    for n in range(2):
        chunks = list(
            client.chat.completions.create(
                model=MODEL, messages=user, max_tokens=15 + n, stream=True
            )
        )
        assert all(chunk.usage is None for chunk in chunks)
        assert chunks[-1].choices  # the usage-only chunk was stripped
    # A stream whose client asked for usage gets the engine's own numbers.
    asked = list(
        client.chat.completions.create(
            model=MODEL,
            messages=user,
            max_tokens=10,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert asked[-1].usage is not None
    assert asked[-1].usage.completion_tokens == 10
    list(client.completions.create(model=MODEL, prompt="Guten Morgen", max_tokens=7, stream=True))
    # Clients that leave mid-stream: the engine finishes, and what it generated is metered.
    for n, prompt in enumerate(["Erzähl eine Geschichte.", "Tell a story.", "Was ist Kafka?"]):
        _abandon_stream(metered, prompt, events=2 + n)

    requests = 2 + 1 + 2 + 1 + 1 + 3
    _wait_until(lambda: len(_ledger()) == requests, 120)
    _wait_until(lambda: engine_metric(engine, "vllm:num_requests_running") == 0, 60)
    ledger = _ledger()
    prompt_tokens = sum(r.prompt_tokens for r in ledger)
    completion_tokens = sum(r.completion_tokens for r in ledger)
    # The engine's counters trail its last step by a moment.
    deadline = time.monotonic() + 10
    while True:
        prompt_after, generated_after = _counters(engine)
        totals = (prompt_after - prompt_before, generated_after - generated_before)
        if totals == (prompt_tokens, completion_tokens) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert totals == (prompt_tokens, completion_tokens)
    assert all(r.usage_source == "engine" for r in ledger)
    statuses = sorted(r.status for r in ledger)
    assert statuses == ["aborted"] * 3 + ["ok"] * 7
    aborted = [r for r in ledger if r.status == "aborted"]
    assert all(r.completion_tokens == 60 for r in aborted)  # finished for nobody, and billed
    assert all(r.jurisdiction == "DE" and r.pool == "local-de" for r in ledger)
