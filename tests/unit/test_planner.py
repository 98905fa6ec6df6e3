from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from gateway.cli import main as cli_main
from loadtest.capacity_report import write_report
from loadtest.eu_claim import CITIZENS, check
from loadtest.planner import (
    BATCH_SUMMARY,
    CITIZEN_CHAT,
    CONTACT_CENTRE,
    WORKLOADS,
    Slo,
    gpus_for_users,
    max_users,
    mix,
    operating_point,
    users_for_gpus,
)
from serving.perfmodel import ENGINE_PERF, get

SLO = Slo(1.0, 20.0)
GPU_PROFILES = [k for k in ENGINE_PERF if not k.startswith("cpu/")]


@pytest.mark.parametrize("key", GPU_PROFILES)
def test_latency_never_improves_with_more_users(key: str) -> None:
    perf = get(key)
    for work in WORKLOADS.values():
        points = [operating_point(perf, work, n) for n in (1, 10, 50, 200, 800, 3000)]
        steps = [p.step_s for p in points]
        ttfts = [p.ttft_p95_s for p in points]
        for series in (steps, ttfts):
            assert all(b >= a * (1 - 1e-6) for a, b in itertools.pairwise(series))
        assert all(p.batch <= perf.max_num_seqs + 1e-9 for p in points)


@pytest.mark.parametrize("key", GPU_PROFILES)
def test_max_users_is_the_edge_of_the_slo(key: str) -> None:
    perf = get(key)
    for work in (CONTACT_CENTRE, CITIZEN_CHAT):
        n = max_users(perf, work, SLO)
        assert n > 0
        assert operating_point(perf, work, n).meets(SLO)
        assert not operating_point(perf, work, n + 1).meets(SLO)


def test_single_user_throughput_matches_the_step_model() -> None:
    perf = get("b200/llama-3.3-70b")
    point = operating_point(perf, BATCH_SUMMARY, 1)
    # One user, no think time: one sequence decoding, plus its own prefill share.
    assert point.step_s >= perf.step_seconds(1, 0)
    assert point.batch == pytest.approx(point.output_tokens_per_s * point.step_s, rel=1e-6)


def test_gpus_and_users_are_inverse() -> None:
    perf = get("rtx-pro-6000/llama-3.3-70b")  # TP=2: two GPUs per engine
    plan = gpus_for_users(perf, CITIZEN_CHAT, SLO, 10_000)
    assert plan.engines == math.ceil(10_000 / plan.users_per_engine)
    assert plan.gpus == 2 * plan.engines
    back = users_for_gpus(perf, CITIZEN_CHAT, SLO, plan.gpus)
    assert back.users >= 10_000
    assert back.users - 10_000 < plan.users_per_engine


def test_mix_weights_requests() -> None:
    both = mix({CONTACT_CENTRE: 3, BATCH_SUMMARY: 1})
    c, b = CONTACT_CENTRE, BATCH_SUMMARY
    assert both.prompt_tokens == pytest.approx((3 * c.prompt_tokens + b.prompt_tokens) / 4)
    assert both.output_tokens == pytest.approx((3 * c.output_tokens + b.output_tokens) / 4)
    uncached = (3 * c.prompt_tokens * (1 - c.cached_fraction) + b.prompt_tokens) / 4
    assert both.prompt_tokens * (1 - both.cached_fraction) == pytest.approx(uncached)


def test_eu_claim_is_checked_under_each_reading() -> None:
    rows = check()
    assert len(rows) == 4
    for row in rows:
        assert row.users_on_10k == 10_000 * row.users_per_engine  # B200 profiles are TP=1
        assert row.share_of_claim == pytest.approx(row.users_on_10k / CITIZENS)
    # However generous the reading, 10,000 GPUs fall far short of 450 M at once.
    assert max(r.share_of_claim for r in rows) < 0.5


def test_cli_and_report(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cli_main(["capacity", "gpus", "--profile", "b200/llama-3.1-8b", "--users", "5000"])
    out = capsys.readouterr().out
    assert "5,000 users need" in out
    cli_main(["capacity", "users", "--gpus", "16", "--mix", "contact-centre=1,batch-summary=1"])
    assert "16 GPUs" in capsys.readouterr().out
    report = write_report(tmp_path)
    assert (tmp_path / "latency_vs_concurrency.png").stat().st_size > 10_000
    assert "10,000 Blackwell GPUs" in report.read_text()


def test_planner_workloads_are_the_load_tests_means() -> None:
    import random

    from loadtest import workloads as load

    rng = random.Random(7)
    for planned, sampled in (
        (CONTACT_CENTRE, load.CONTACT_CENTRE),
        (BATCH_SUMMARY, load.BATCH_SUMMARY),
    ):
        assert sampled.prompt_tokens is not None
        prompts = [sampled.prompt_tokens.sample(rng) for _ in range(20_000)]
        outputs = [sampled.output_tokens.sample(rng) for _ in range(20_000)]
        assert sum(prompts) / len(prompts) == pytest.approx(planned.prompt_tokens, rel=0.05)
        assert sum(outputs) / len(outputs) == pytest.approx(planned.output_tokens, rel=0.05)
        think = (sampled.think_s.low + sampled.think_s.high) / 2
        assert think == pytest.approx(planned.think_s)
    chat_outputs = [load.CITIZEN_CHAT.output_tokens.sample(rng) for _ in range(20_000)]
    assert sum(chat_outputs) / len(chat_outputs) == pytest.approx(
        CITIZEN_CHAT.output_tokens, rel=0.05
    )
