"""The lean-path benchmarks' pure parts: slopes, percentiles, gaps, wrk output, the tables.

The benchmarks themselves (engines, gateways, LiteLLM, minutes of load) are not run here.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest

from loadtest import litellm_proxy
from loadtest.lean_overhead import Run, Side, Summary, phases, summarise, targets
from loadtest.lean_procs import Proc, hash_key
from loadtest.lean_stats import (
    StreamTiming,
    WrkResult,
    busy_cpu,
    gap_summary,
    ms,
    parse_wrk,
    percentile,
    ratio,
    slope,
    table,
    us,
    verdict,
)
from loadtest.mass_streams import Plan, Sample, kept_up, parse_sizes, plateau_figures
from loadtest.mass_streams import Side as MassSide

WRK_OUTPUT = """\
Running 2s test @ http://127.0.0.1:8080/v1/chat/completions
  1 threads and 16 connections
Requests/sec:   1234.56

WRK_RESULT {"requests":2469,"duration_us":2000000,"bytes":100,"p50_us":1500,"p90_us":4000,\
"p99_us":12000,"p999_us":30000,"max_us":41000,"mean_us":2000.5,"connect_errors":0,\
"read_errors":1,"write_errors":0,"status_errors":2,"timeouts":0,"bad":3,"events":0,\
"bad_statuses":"503 429 "}
"""


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(list(reversed(values)), 1) == 1.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_slope_of_two_runs_cancels_what_each_run_pays_once() -> None:
    # 0.3 s fixed per run, 1.5 ms per request: the difference quotient finds 1.5 ms.
    assert slope([(1000, 0.3 + 1.5), (3000, 0.3 + 4.5)]) == pytest.approx(1.5e-3)
    # More points: least squares through them.
    points = [(x, 2.0 + 0.5 * x + noise) for x, noise in ((1, 0.1), (2, -0.1), (3, 0.1), (4, -0.1))]
    assert slope(points) == pytest.approx(0.46)
    with pytest.raises(ValueError, match="two points"):
        slope([(1, 1)])
    with pytest.raises(ValueError, match="different x"):
        slope([(2, 1), (2, 3)])


def test_busy_cpu_subtracts_the_rate_at_rest() -> None:
    assert busy_cpu(1.0, 2.0, 0.01) == pytest.approx(0.98)


def test_stream_gaps_count_reads_that_brought_events() -> None:
    timing = StreamTiming(True, (0.010, 0.043, 0.076, 0.200), 8)
    assert timing.ttft == 0.010
    assert timing.gaps() == pytest.approx([0.033, 0.033, 0.124])
    assert StreamTiming(False, (), 0).ttft is None
    assert StreamTiming(False, (), 0).gaps() == []
    summary = gap_summary([0.010, 0.020, 0.500], [0.033] * 98 + [0.124, 0.5])
    assert summary["ttft_p50"] == 0.020
    assert summary["ttft_p99"] == 0.500
    assert summary["gap_p50"] == pytest.approx(0.033)
    assert summary["gap_p99"] == pytest.approx(0.124)
    assert summary["gap_max"] == 0.5
    assert math.isnan(gap_summary([], [])["gap_max"])


def test_wrk_result_line_is_parsed_and_failures_add_up() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert result.requests == 2469
    assert result.rate == pytest.approx(1234.5)
    assert (result.p50, result.p99, result.max) == (0.0015, 0.012, 0.041)
    assert result.errors == 3  # one read error, two statuses > 399
    assert result.failures == 4  # the read error and the three bad answers (two statuses)
    assert result.bad_statuses == "503 429"
    assert result.error_kinds == "read 1, status 2"
    with pytest.raises(ValueError, match="WRK_RESULT"):
        parse_wrk("Requests/sec: 5\n")


def test_table_and_cells() -> None:
    lines = table(["side", "a", "b"], [["x", "1", "2"]])
    assert lines == ["| side | a | b |", "| --- | ---: | ---: |", "| x | 1 | 2 |"]
    assert table(["t", "s", "v"], [], left=2)[1] == "| --- | --- | ---: |"
    with pytest.raises(ValueError, match="columns"):
        table(["a", "b"], [["only one"]])
    assert (ms(0.0012345), ms(None), ms(math.nan), ms(12.5, 0)) == ("1.23", "-", "-", "12,500")
    assert us(22e-6) == "22.0"
    assert ratio(580.0, 52.7) == "11.0x"
    assert ratio(1.0, 0.0) == ratio(None, 1.0) == "-"
    assert verdict(7e-6, 8e-6) == "met"
    assert verdict(9e-6, 8e-6) == "**missed**"
    assert verdict(math.nan, 1.0) == "-"


def wrk(requests: int, events: int = 0, p50: float = 0.001, p99: float = 0.01) -> WrkResult:
    return WrkResult(requests, 2.0, p50, p50, p99, p99, p99, 0, 0, events)


def test_summary_takes_slopes_over_plain_runs_and_paced_streams() -> None:
    proc = Proc("gw", "http://127.0.0.1:1", None, None)  # type: ignore[arg-type]
    side = Side("full, none", "gateway", proc, "sk")
    # Plain: 0.2 s each run pays once, 1.5 ms per request.
    side.runs += [
        Run("plain, 1 connection", wrk(500, p50=0.0015, p99=0.004), 0.5, 2.0),
        Run("plain, 16 connections, short", wrk(1000, p50=0.02), 0.2 + 1.5, 2.0),
        Run("plain, 16 connections, long", wrk(3000, p50=0.03), 0.2 + 4.5, 5.0),
        Run("streams of 16, 16 connections", wrk(400, events=400 * 19), 0.8, 2.0),
        # Paced: 2 ms per stream plus 40 µs per event.
        Run("paced streams of 16", wrk(100, events=100 * 19), 100 * (2e-3 + 19 * 40e-6), 2.0),
        Run("paced streams of 256", wrk(10, events=10 * 259), 10 * (2e-3 + 259 * 40e-6), 3.0),
    ]
    summary = summarise(side)
    assert summary.cpu_per_request == pytest.approx(1.5e-3)
    assert summary.cpu_per_event == pytest.approx(40e-6)
    assert summary.cpu_per_stream16 == pytest.approx(2e-3)
    assert summary.rps_plain == pytest.approx(4000 / 4.0)
    assert (summary.p50_1, summary.p99_1) == (0.0015, 0.004)
    assert summary.p50_16 == pytest.approx(0.025)  # median of the two 16-connection runs
    engine = Summary(p50_1=0.0001, p99_1=0.002, p50_16=0.001, p99_16=0.005)
    rows = targets({"full, none": summary}, engine)
    assert rows[2].startswith("| CPU per event, policy none | full, none | 40.0 | 8.0 |")
    assert len(rows) == 3  # only the sides that ran are checked


def test_quick_phases_still_give_two_sizes_of_each_slope() -> None:
    for quick in (True, False):
        plan = phases(quick)
        plain = [p.seconds for p in plan if p.name.startswith("plain, 16")]
        assert len(plain) == 2
        assert plain[0] < plain[1]
        assert all(isinstance(p.seconds, int) and p.seconds >= 1 for p in plan)
        paced = sorted(p.tokens for p in plan if p.model.endswith("-paced"))
        assert paced == [16, 256]


def test_plateau_is_while_the_most_streams_were_open() -> None:
    plan = Plan([1000], events=300, rate=30.0, spread=2.0, clients=1)
    assert plan.duration == 10.0
    # Streams ramp up to 1,000 open from 2 s to 10 s, then drain; CPU grows 0.8 s a second.
    opened = [min(1000, t * 125) if t <= 40 else max(0, 1000 - (t - 40) * 125) for t in range(56)]
    samples = [Sample(t / 4, 1.0 + 0.8 * t / 4, 100 + t, opened[t]) for t in range(56)]
    cores, rss, most = plateau_figures(samples)
    assert cores == pytest.approx(0.8)
    assert most == 1000
    assert rss == statistics.median([100 + t for t in range(56) if opened[t] >= 900])
    assert math.isnan(plateau_figures(samples[:1])[0])
    assert parse_sizes("2000, 500,1000") == [500, 1000, 2000]


def test_a_gateway_that_fell_behind_misses_the_target_whatever_its_gaps() -> None:
    through = MassSide(2000, "gateway", errors={"HTTP 503 quota_store_unavailable": 3})
    through.most_open = 1950
    assert not through.kept_up  # any failure misses the target ...
    assert not through.saturated  # ... but three in 2,000 do not stop the run
    assert MassSide(2000, "gateway", most_open=1200).saturated  # fell behind: stop there
    assert kept_up(through, "met").startswith("**missed** (3 failed")
    fine = MassSide(2000, "gateway", most_open=1990, busy_cores=0.5)
    assert fine.kept_up
    assert not fine.saturated
    assert kept_up(fine, "met") == "met"


def test_key_hash_is_the_gateways_config_form() -> None:
    from gateway.auth import hash_key as gateway_hash_key

    assert hash_key("sk-lean-x") == gateway_hash_key("sk-lean-x")


def test_litellm_is_configured_minimally_and_offline(tmp_path: Path) -> None:
    config = litellm_proxy.config("http://127.0.0.1:9000", ["lean", "lean-paced"], "sk-l")
    assert [m["litellm_params"]["model"] for m in config["model_list"]] == [
        "openai/lean",
        "openai/lean-paced",
    ]
    assert config["model_list"][0]["litellm_params"]["api_base"] == "http://127.0.0.1:9000/v1"
    assert config["litellm_settings"]["callbacks"] == []
    assert "database_url" not in config["general_settings"]
    argv = litellm_proxy.command(tmp_path, tmp_path, "http://e", ["lean"], "sk-l", 4000)
    assert argv[argv.index("--num_workers") + 1] == "1"
    assert (tmp_path / "litellm.yaml").is_file()
    env = litellm_proxy.environment({})
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
