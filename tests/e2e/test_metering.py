"""Metering against the real vLLM engine: the ledger's token totals equal the engine's own
counters exactly, after streams, non-streams and streams the client abandoned (a tenant that
chose ``finish``); with ``abort`` (the default) a client that leaves stops the engine, and
the ledger holds the engine's own count at the last chunk the gateway read (issue 14)."""

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
from gateway.metering import estimate
from tests.processes import SYSTEM_REDIS, VAULT_KEY, GatewayProcess, gateway_process, ledger
from tests.servers import EngineUnderTest, engine_metric

pytestmark = pytest.mark.engine

TENANT = f"meter-{uuid.uuid4().hex[:8]}"
KEY = f"sk-meter-{uuid.uuid4().hex}"
ABORT_TENANT = f"meter-abort-{uuid.uuid4().hex[:8]}"
ABORT_KEY = f"sk-meter-abort-{uuid.uuid4().hex}"
# What vLLM may generate after the last chunk the gateway read, before it sees the closed
# connection: the chunks under way and the engine steps meanwhile (README, "Metering").
UNMETERED_BOUND = 8
MODEL = "smollm2"


@pytest.fixture(scope="module")
def metered(
    engine: EngineUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    folder: Path = tmp_path_factory.mktemp("metered")
    config = {
        "store": {"redis_url": SYSTEM_REDIS, "jurisdiction": "DE", "operator": "test"},
            "security": {"pseudonym_key": VAULT_KEY},
        "metering": {"spool_dir": str(folder / "spool")},  # on_client_disconnect: abort
        "pools": [{"name": "local-de", "jurisdiction": "DE", "site": "de-local-1",
                   "engines": [engine.base_url], "models": [MODEL]}],
        "tenants": [{"id": TENANT, "limits": {"tokens_per_minute": 1_000_000},
                     "on_client_disconnect": "finish",
                     "api_keys": [{"id": f"{TENANT}-1", "hash": hash_key(KEY)}]},
                    {"id": ABORT_TENANT, "limits": {"tokens_per_minute": 1_000_000},
                     "api_keys": [{"id": f"{ABORT_TENANT}-1", "hash": hash_key(ABORT_KEY)}]}],
    }  # fmt: skip
    with gateway_process(config, folder, "metered") as gateway:
        yield gateway


def _ledger(tenant: str = TENANT) -> list[UsageRecord]:
    return ledger(SYSTEM_REDIS, tenant)


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


def _abandon_stream(
    gateway: GatewayProcess, prompt: str, events: int, key: str = KEY, max_tokens: int = 60
) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "ignore_eos": True,  # vLLM: exactly max_tokens, unless it is stopped
        "stream": True,
    }
    headers = {"authorization": "Bearer " + key}
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
    # Clients that leave mid-stream: the engine finishes (this tenant chose finish), and
    # what it generated is metered.
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


def _settled(engine: EngineUnderTest) -> tuple[float, float]:
    """The engine's counters once it is idle and they no longer move."""
    _wait_until(lambda: engine_metric(engine, "vllm:num_requests_running") == 0, 15)
    seen = _counters(engine)
    while True:
        time.sleep(1)
        now = _counters(engine)
        if now == seen:
            return now
        seen = now


def test_a_stream_left_early_stops_the_engine_and_meters_its_own_count(
    metered: GatewayProcess, engine: EngineUnderTest
) -> None:
    _wait_until(lambda: engine_metric(engine, "vllm:num_requests_running") == 0, 60)
    prompt_before, generated_before = _counters(engine)
    known = len(_ledger(ABORT_TENANT))
    events = 8  # the role chunk, then seven tokens
    _abandon_stream(metered, "Erzähl eine lange Geschichte.", events, ABORT_KEY, max_tokens=400)
    prompt_after, generated_after = _settled(engine)
    _wait_until(lambda: len(_ledger(ABORT_TENANT)) == known + 1, 30)
    record = max(_ledger(ABORT_TENANT), key=lambda r: r.started_at)
    generated = generated_after - generated_before
    print(f"relayed {events - 1}, metered {record.completion_tokens}, generated {generated}")
    assert generated < 100  # stopped long before its 400 tokens
    assert (record.status, record.usage_source) == ("aborted", "engine")
    assert record.prompt_tokens == prompt_after - prompt_before  # the engine's, exactly
    # The engine's count at the last chunk the gateway read: at least what the client got,
    # at most what the engine generated, and short of it by no more than the bound.
    assert events - 1 <= record.completion_tokens <= generated
    assert generated - record.completion_tokens <= UNMETERED_BOUND


def test_a_whole_answer_left_waiting_stops_the_engine_and_meters_the_prompt(
    metered: GatewayProcess, engine: EngineUnderTest
) -> None:
    _wait_until(lambda: engine_metric(engine, "vllm:num_requests_running") == 0, 60)
    _, generated_before = _counters(engine)
    known = len(_ledger(ABORT_TENANT))
    user: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "Write a very long story."}
    ]
    client = metered.client(ABORT_KEY).with_options(timeout=3)  # 50 to 250 tokens here
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(
            model=MODEL, messages=user, max_tokens=1500, extra_body={"ignore_eos": True}
        )
    left = time.monotonic()
    _wait_until(lambda: engine_metric(engine, "vllm:num_requests_running") == 0, 5)
    assert time.monotonic() - left < 5
    _, generated_after = _settled(engine)
    generated = generated_after - generated_before
    print(f"generated {generated} of 1500 before the abort")
    assert generated < 500  # stopped well before max_tokens (17 to 70 tokens/s here)
    _wait_until(lambda: len(_ledger(ABORT_TENANT)) == known + 1, 30)
    record = max(_ledger(ABORT_TENANT), key=lambda r: r.started_at)
    assert (record.status, record.http_status, record.usage_source) == ("aborted", 499, "estimate")
    # vLLM reports usage only with the whole answer: the prompt as estimated, and nothing
    # for what it generated before the abort (unknown).
    body = {"model": MODEL, "messages": user, "max_tokens": 1500, "ignore_eos": True}
    assert (record.prompt_tokens, record.completion_tokens) == (estimate.prompt_tokens(body), 0)
    assert record.jurisdiction == "DE"
