"""The routing benchmark's pure parts: workloads, metric arithmetic, percentiles, the checks.

The benchmark itself (simulators, three gateways, minutes of load) is not run here.
"""

from __future__ import annotations

import itertools
import math

import pytest

from loadtest.routing_benchmark import (
    STRATEGIES,
    Cpu,
    Delta,
    EngineSnapshot,
    Percentiles,
    affinity_check,
    cpu_warning,
    delta,
    latency_check,
    not_in_effect,
    order,
    parse_args,
    parse_engine_metrics,
    percentiles,
    ratio,
    sessions,
    skewed_calls,
)
from serving.simulator.text import block_hashes, count_tokens, render_chat, split_tokens

# As the simulator (prometheus_client, like vLLM) exposes it, trimmed: counters are typed
# under their _total name and come with _created gauges.
METRICS = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 1.0
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 1000.0
# HELP vllm:prefix_cache_queries_created Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_created gauge
vllm:prefix_cache_queries_created{engine="0",model_name="m"} 1.7e+09
# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 640.0
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 5.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="m"} 7.0
# HELP vllm:request_success_created Count of successfully processed requests.
# TYPE vllm:request_success_created gauge
vllm:request_success_created{engine="0",finished_reason="length",model_name="m"} 1.7e+09
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="m"} 99.0
"""
# The same page without TYPE lines (another exporter): families keep the _total name.
UNTYPED = "\n".join(line for line in METRICS.splitlines() if not line.startswith("#"))


def _prompt(body: dict[str, object]) -> list[str]:
    messages = body["messages"]
    assert isinstance(messages, list)
    return split_tokens(render_chat((m["role"], m["content"]) for m in messages))


@pytest.mark.parametrize("page", [METRICS, UNTYPED], ids=["typed", "untyped"])
def test_metrics_are_summed_over_labels_without_created_samples(page: str) -> None:
    snap = parse_engine_metrics(page)
    assert snap == EngineSnapshot(
        running=3.0, waiting=1.0, cache_queries=1000.0, cache_hits=640.0, finished=12.0
    )


def test_metrics_missing_from_the_page_count_as_zero() -> None:
    assert parse_engine_metrics("") == EngineSnapshot()


def test_hit_rate_and_slow_share_come_from_the_deltas_summed_over_engines() -> None:
    before = [EngineSnapshot(cache_queries=100, cache_hits=50, finished=10)] * 2
    after = [
        EngineSnapshot(cache_queries=1100, cache_hits=850, finished=40),  # 800 of 1000 hit
        EngineSnapshot(cache_queries=3100, cache_hits=250, finished=20),  # 200 of 3000 hit
    ]
    change = delta(before, after, slow=frozenset({1}))
    assert change == Delta(cache_queries=4000, cache_hits=1000, finished=40, finished_slow=10)
    assert change.hit_rate == pytest.approx(0.25)
    assert change.slow_share == pytest.approx(0.25)


def test_deltas_add_up_over_phases_before_the_rate_is_taken() -> None:
    total = Delta(100, 90, 4, 1) + Delta(900, 10, 6, 0)
    assert total.hit_rate == pytest.approx(0.1)  # not the mean of 0.9 and 0.011
    assert total.slow_share == pytest.approx(0.1)


def test_no_queries_is_no_rate_rather_than_zero() -> None:
    assert math.isnan(Delta().hit_rate)
    assert math.isnan(Delta().slow_share)


def test_snapshots_of_different_engine_sets_are_refused() -> None:
    with pytest.raises(ValueError, match="longer"):
        delta([EngineSnapshot()], [EngineSnapshot()] * 2, frozenset())


def test_percentiles_pick_from_the_sorted_samples() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100 .. 1, unsorted on purpose
    assert percentiles(values) == Percentiles(51.0, 96.0, 100.0)
    nothing = percentiles([])
    assert all(math.isnan(v) for v in (nothing.p50, nothing.p95, nothing.p99))


def test_skewed_calls_are_a_function_of_the_seed_with_a_nonce_per_phase() -> None:
    first, again = skewed_calls(50, seed=3, phase=1), skewed_calls(50, seed=3, phase=1)
    assert first == again
    other_phase = skewed_calls(50, seed=3, phase=2)
    sizes = [len(_prompt(c.body)) for c in first]
    # Another phase: the same prompt sizes, for a fair comparison ...
    assert [len(_prompt(c.body)) for c in other_phase] == sizes
    # ... and not one KV block in common, so no phase profits from another's prefix cache.
    blocks = {h for c in first for h in block_hashes(_prompt(c.body))}
    assert not blocks & {h for c in other_phase for h in block_hashes(_prompt(c.body))}
    assert skewed_calls(50, seed=4, phase=1) != first


def test_skewed_prompt_sizes_are_mostly_short_some_long() -> None:
    calls = skewed_calls(1000, seed=0, phase=0)
    sizes = [len(_prompt(c.body)) for c in calls]
    long = [s for s in sizes if s > 1000]
    assert 0.15 < len(long) / len(sizes) < 0.25
    assert all(1500 < s < 2600 for s in long)
    assert all(80 < s < 150 for s in sizes if s <= 1000)
    assert all(c.body["stream"] is True and c.session is None for c in calls)


def test_session_turns_resend_the_history_after_a_system_prompt_of_their_own() -> None:
    chats = sessions(3, 4, seed=1, phase=5)
    assert chats == sessions(3, 4, seed=1, phase=5)
    assert [len(turns) for turns in chats] == [4, 4, 4]
    for turns in chats:
        assert len({c.session for c in turns}) == 1
        prompts = [_prompt(c.body) for c in turns]
        for earlier, later in itertools.pairwise(prompts):
            # Each turn's prompt starts with the whole previous one: its blocks can all hit.
            assert later[: len(earlier)] == earlier
            assert len(later) > len(earlier)
        assert count_tokens(str(turns[0].body["messages"])) > 900  # the long system prompt
    first_blocks = [set(block_hashes(_prompt(t[0].body))) for t in chats]
    assert not first_blocks[0] & first_blocks[1]  # sessions share no prefix
    assert {c.session for t in chats for c in t}.isdisjoint(
        {c.session for t in sessions(3, 4, seed=1, phase=6) for c in t}
    )


def test_every_strategy_starts_a_round_in_turn() -> None:
    firsts = [order(r)[0] for r in range(len(STRATEGIES))]
    assert sorted(firsts) == sorted(STRATEGIES)
    assert all(sorted(order(r)) == sorted(STRATEGIES) for r in range(5))


def test_ratio_handles_zero_and_missing_values() -> None:
    assert ratio(0.8, 0.2) == pytest.approx(4.0)
    assert ratio(0.8, 0.0) == math.inf
    assert math.isnan(ratio(math.nan, 0.2))


@pytest.mark.parametrize(
    ("rr", "ll", "ok"), [(0.8, 0.4, True), (0.8, 0.1, True), (0.8, 0.41, False), (0.5, 0.5, False)]
)
def test_least_load_must_halve_round_robins_p99(rr: float, ll: float, ok: bool) -> None:
    check = latency_check(rr, ll, ll_failure_share=0.0)
    assert check.ok is ok
    assert ("met" if ok else "MISSED") in check.message


def test_a_fast_least_load_that_fails_requests_does_not_pass() -> None:
    check = latency_check(0.8, 0.1, ll_failure_share=0.05)
    assert not check.ok
    assert "failed 5.0%" in check.message


def test_no_samples_is_a_miss() -> None:
    assert not latency_check(math.nan, math.nan, 0.0).ok
    assert not affinity_check(0.3, math.nan).ok


def test_affinity_must_hit_the_prefix_cache_more_than_round_robin() -> None:
    assert affinity_check(0.35, 0.78).ok
    assert not affinity_check(0.35, 0.35).ok


def test_a_strategy_sending_the_slow_engine_round_robins_share_is_flagged() -> None:
    assert not_in_effect(0.25, 0.24)
    assert not not_in_effect(0.25, 0.02)


def test_a_saturated_host_is_reported_with_who_saturated_it() -> None:
    assert cpu_warning([Cpu(30, 60), Cpu(40, 89)]) is None
    assert cpu_warning([]) is None
    ours = cpu_warning([Cpu(30, 60), Cpu(85, 95)])
    assert ours is not None
    assert "95 %" in ours
    assert "mostly this benchmark" in ours
    others = cpu_warning([Cpu(20, 92)])
    assert others is not None
    assert "mostly other work on the host" in others


def test_quick_mode_shrinks_only_what_was_not_given() -> None:
    quick = parse_args(["--quick", "--rounds", "3"])
    assert (quick.rounds, quick.requests, quick.sessions, quick.turns) == (3, 150, 16, 4)
    full = parse_args([])
    assert (full.rounds, full.requests, full.sessions, full.turns) == (4, 400, 32, 6)
