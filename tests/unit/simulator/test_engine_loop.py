"""The asyncio engine loop with an injected clock: real-time behaviour without waiting."""

from __future__ import annotations

import asyncio

import pytest

from serving.simulator.engine import Engine, EngineConfig, engine_config
from tests.unit.simulator.conftest import seq, small_perf


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def _finish(engine: Engine, names_and_prompts: list[tuple[str, int]]) -> dict[str, float]:
    """Submit sequences at t=0 and return their first-token times."""
    done = asyncio.Event()
    seqs = [seq(name, prompt, max_tokens=3) for name, prompt in names_and_prompts]

    def check() -> None:
        if all(s.finished for s in seqs):
            done.set()

    for s in seqs:
        s.notify = check
        engine.submit(s)
    await asyncio.wait_for(done.wait(), 5)
    return {s.request_id: s.first_token_at or -1.0 for s in seqs}


@pytest.mark.parametrize("speed", [1.0, 0.25])
async def test_time_to_first_token_follows_the_performance_model(speed: float) -> None:
    perf = small_perf()
    fake = FakeTime()
    engine = Engine(
        EngineConfig(perf=perf, model="m", max_model_len=512, speed=speed),
        clock=fake.clock,
        sleep=fake.sleep,
    )
    engine.start()
    try:
        ttft = await _finish(engine, [("a", 100), ("b", 50)])
    finally:
        await engine.stop()
    one_step = perf.step_seconds(0, 150) * speed  # both prompts prefilled in one step
    assert ttft == {"a": pytest.approx(one_step), "b": pytest.approx(one_step)}
    assert fake.now == pytest.approx(one_step + 2 * perf.step_seconds(2, 0) * speed)
    text = engine.metrics.exposition().decode()
    assert 'vllm:generation_tokens_total{engine="0",model_name="m"} 6.0' in text
    assert 'vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 2.0' in text


async def test_an_idle_engine_sleeps_until_a_request_arrives() -> None:
    fake = FakeTime()
    engine = Engine(EngineConfig(small_perf(), "m", 512), clock=fake.clock, sleep=fake.sleep)
    engine.start()
    await asyncio.sleep(0.01)
    assert fake.now == 0.0  # no busy loop, no step without work
    fake.now = 100.0
    ttft = await _finish(engine, [("late", 10)])
    await engine.stop()
    assert ttft["late"] == pytest.approx(100.0 + small_perf().step_seconds(0, 10))


def test_profiles_give_their_context_length_and_refuse_what_cannot_fit() -> None:
    assert engine_config("b200/llama-3.3-70b", "m").max_model_len == 32768
    assert engine_config("rtx-pro-6000/llama-3.3-70b", "m").max_model_len == 16384
    assert engine_config("cpu/smollm2", "m").max_model_len == 2048
    with pytest.raises(ValueError, match="KV cache"):
        EngineConfig(small_perf(), "m", max_model_len=10**6)
    with pytest.raises(KeyError, match="unknown engine profile"):
        engine_config("tpu/nothing", "m")
