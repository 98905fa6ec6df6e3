"""The engine core, driven step by step with a fake clock: no sleeping, exact numbers."""

from __future__ import annotations

import pytest

from serving.perfmodel import ENGINE_PERF
from serving.simulator.scheduler import EngineCore, Step
from tests.unit.simulator.conftest import seq, small_perf


def run_to_idle(core: EngineCore, now: float = 0.0) -> tuple[float, list[Step]]:
    steps: list[Step] = []
    while (step := core.schedule(now)) is not None:
        now += step.duration
        core.complete(step, now)
        steps.append(step)
        assert len(steps) < 10_000
    return now, steps


def test_batch_is_capped_by_max_num_seqs_and_the_rest_queue_fcfs() -> None:
    core = EngineCore(small_perf(max_num_seqs=4))
    seqs = [seq(f"r{i}", 20, max_tokens=3) for i in range(6)]
    for s in seqs:
        core.add(s)
    step = core.schedule(0.0)
    assert step is not None
    assert [s.request_id for s in core.running] == ["r0", "r1", "r2", "r3"]
    assert [s.request_id for s in core.waiting] == ["r4", "r5"]
    assert step.prefill_tokens == 80
    assert step.decoding == 0
    core.complete(step, step.duration)
    run_to_idle(core, step.duration)
    assert all(s.finish_reason == "length" and s.generated == 3 for s in seqs)
    first_wave = max(s.first_token_at or 0 for s in seqs[:4])
    assert all((s.scheduled_at or 0) >= first_wave for s in seqs[4:])  # admitted after


def test_a_prompt_waits_until_its_kv_blocks_are_free() -> None:
    core = EngineCore(small_perf(kv_capacity_tokens=16 * 10, max_num_seqs=8))
    a, b, c = (seq(n, 64, max_tokens=1) for n in "abc")  # 4 blocks each
    for s in (a, b, c):
        core.add(s)
    step = core.schedule(0.0)
    assert step is not None
    assert core.running == [a, b]
    assert list(core.waiting) == [c]
    assert core.pool.used == 8
    core.complete(step, step.duration)  # a and b finish with their first token
    assert core.pool.used == 0
    nxt = core.schedule(step.duration)
    assert nxt is not None
    assert core.running == [c]


def test_step_time_grows_with_the_decoding_batch() -> None:
    perf = small_perf(max_num_seqs=64, max_num_batched_tokens=1024)
    durations = []
    for batch in (1, 8, 32):
        core = EngineCore(perf)
        for i in range(batch):
            core.add(seq(f"r{i}", 16, max_tokens=5))
        first = core.schedule(0.0)
        assert first is not None
        core.complete(first, first.duration)
        decode = core.schedule(first.duration)
        assert decode is not None
        assert (decode.decoding, decode.prefill_tokens) == (batch, 0)
        assert decode.duration == pytest.approx(perf.step_seconds(batch, 0))
        durations.append(decode.duration)
    assert durations == sorted(durations)
    assert durations[0] < durations[-1]
    b200 = ENGINE_PERF["b200/llama-3.3-70b"]
    assert b200.step_seconds(256, 0) > b200.step_seconds(1, 0)


def test_chunked_prefill_spreads_a_long_prompt_over_steps() -> None:
    perf = small_perf(max_num_batched_tokens=64)
    core = EngineCore(perf)
    long = seq("long", 150, max_tokens=2)
    core.add(long)
    now, steps = run_to_idle(core)
    assert [s.prefill_tokens for s in steps[:3]] == [64, 64, 22]
    assert steps[3].decoding == 1
    ttft = sum(perf.step_seconds(0, n) for n in (64, 64, 22))
    assert long.first_token_at == pytest.approx(ttft)
    assert long.generated == 2
    assert now == pytest.approx(ttft + perf.step_seconds(1, 0))


def test_decode_tokens_count_against_the_step_budget() -> None:
    core = EngineCore(small_perf(max_num_batched_tokens=8, max_num_seqs=8))
    for i in range(6):
        core.add(seq(f"d{i}", 1, max_tokens=50))
    first = core.schedule(0.0)
    assert first is not None
    core.complete(first, 1.0)
    newcomer = seq("new", 40)
    core.add(newcomer)
    step = core.schedule(1.0)
    assert step is not None
    assert step.decoding == 6
    assert step.prefill_tokens == 2
    assert (newcomer, 2) in step.work


def test_prefix_cache_hits_skip_prefill_and_are_counted_in_tokens() -> None:
    core = EngineCore(small_perf())
    first = seq("first", 50, max_tokens=1, hashes=(1, 2, 3))
    core.add(first)
    run_to_idle(core)
    assert core.pool.used == 0
    assert core.pool.cached == 3

    longer = seq("longer", 60, max_tokens=1, hashes=(1, 2, 3))
    core.add(longer)
    step = core.schedule(1.0)
    assert step is not None
    assert (step.cache_queries, step.cache_hits, step.prefill_tokens) == (60, 48, 12)
    run_to_idle(core, 1.0)

    forked = seq("forked", 60, max_tokens=1, hashes=(1, 2, 99))
    core.add(forked)
    step = core.schedule(2.0)
    assert step is not None
    assert step.cache_hits == 32

    core.complete(step, 2.1)
    same = seq("same", 48, max_tokens=1, hashes=(1, 2, 3))
    core.add(same)
    step = core.schedule(3.0)
    # Fully cached: the last block is computed anyway, its logits give the first token.
    assert step is not None
    assert (step.cache_hits, step.prefill_tokens) == (32, 16)


def test_kv_exhaustion_preempts_the_newest_sequence_which_is_recomputed() -> None:
    core = EngineCore(small_perf(kv_capacity_tokens=16 * 4))
    old, new = seq("old", 32, max_tokens=20), seq("new", 32, max_tokens=5)
    core.add(old)
    core.add(new)
    prefill = core.schedule(0.0)
    assert prefill is not None
    assert core.pool.free == 0
    core.complete(prefill, prefill.duration)
    step = core.schedule(prefill.duration)  # old needs a 3rd block for its next token
    assert step is not None
    assert step.preempted == 1
    assert core.running == [old]
    assert list(core.waiting) == [new]
    assert new.computed == 0
    assert new.generated == 1
    core.complete(step, 1.0)
    run_to_idle(core, 1.0)
    assert (old.generated, new.generated) == (20, 5)
    assert new.preemptions == 1
    assert old.preemptions == 0
    assert core.pool.used == 0


def test_abort_frees_the_slot_and_the_blocks() -> None:
    core = EngineCore(small_perf())
    victim = seq("victim", 40, max_tokens=100)
    core.add(victim)
    step = core.schedule(0.0)
    assert step is not None
    assert core.pool.used == 3
    assert core.abort(victim)
    core.complete(step, step.duration)  # the step it was in changes nothing any more
    assert core.running == []
    assert core.pool.used == 0
    assert victim.finish_reason == "abort"
    assert victim.generated == 0
    assert not core.abort(victim)


def test_natural_end_of_sequence_finishes_with_stop() -> None:
    core = EngineCore(small_perf())
    talker = seq("talker", 10, max_tokens=10, eos_at=3)
    core.add(talker)
    run_to_idle(core)
    assert (talker.generated, talker.finish_reason) == (3, "stop")
