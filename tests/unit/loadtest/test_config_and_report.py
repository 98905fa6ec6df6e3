"""Options, request bodies, metric entries, the summary table and the wrapper's command line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from loadtest import run
from loadtest.config import RunConfig, add_arguments, chat_body, chat_headers, parse_weights
from loadtest.metrics import ITL, TOKENS_PER_S, TTFT, Sample, bucket, derived_samples
from loadtest.sse import StreamResult
from loadtest.summary import format_table, read_stats, summarise
from loadtest.workloads import ChatRequest

SINGLE = ChatRequest("contact_centre", [{"role": "user", "content": "Hallo"}], 120, 20)
TURN = ChatRequest("citizen_chat", [{"role": "user", "content": "Hallo"}], 250, 20, "citizen-1", 2)


class LocustLikeParser(argparse.ArgumentParser):
    """Takes Locust's extra keywords (its configargparse reads ``env_var``; not tested here)."""

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        kwargs.pop("is_secret", None)
        kwargs.pop("env_var", None)
        return super().add_argument(*args, **kwargs)


def _options(argv: list[str]) -> argparse.Namespace:
    parser = LocustLikeParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_options_have_defaults_env_vars_and_become_one_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOVEREIGN_API_KEY", "sk-from-env")
    argv = ["--max-context", "4096", "--no-ignore-eos", "--weights", "batch_summary=2"]
    config = RunConfig.from_options(_options(argv))
    assert config.api_key == "sk-from-env"
    assert config.weights == {"contact_centre": 0, "citizen_chat": 0, "batch_summary": 2}
    assert config.limits.max_context == 4096
    assert (config.model, config.seed, config.think_scale) == ("smollm2", 0, 1.0)
    assert not config.ignore_eos
    with pytest.raises(ValueError, match="think-scale"):
        RunConfig.from_options(_options(["--think-scale", "-1"]))


def test_weights_list_only_what_runs() -> None:
    assert parse_weights("contact_centre=3, citizen_chat=1") == {
        "contact_centre": 3,
        "citizen_chat": 1,
        "batch_summary": 0,
    }
    for bad in ("contact=1", "contact_centre", "contact_centre=-1", "batch_summary=0", ""):
        with pytest.raises(ValueError, match="--weights"):
            parse_weights(bad)


def test_body_streams_with_usage_and_sessions_carry_their_key() -> None:
    body = chat_body(SINGLE, "llama-70b", ignore_eos=True)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert (body["model"], body["max_tokens"], body["ignore_eos"]) == ("llama-70b", 120, True)
    assert "user" not in body
    assert "ignore_eos" not in chat_body(SINGLE, "m", ignore_eos=False)
    assert chat_body(TURN, "m", ignore_eos=True)["user"] == "citizen-1"
    assert chat_headers("sk-1", TURN) == {
        "accept": "text/event-stream",
        "authorization": "Bearer sk-1",
        "x-session-id": "citizen-1",
    }
    assert "authorization" not in chat_headers("", SINGLE)
    assert "x-session-id" not in chat_headers("sk-1", SINGLE)


def test_a_request_reports_ttft_itl_and_rate_only_when_it_succeeded() -> None:
    ok = StreamResult(
        ok=True,
        total_ms=900,
        ttft_ms=120,
        itl_ms=30,
        tokens_per_s=40,
        output_tokens=36,
        prompt_tokens=350,
    )
    assert derived_samples("contact_centre", ok) == [
        Sample(TTFT, "contact_centre", 120, 350),
        Sample(ITL, "contact_centre", 30, 36),
        Sample(TOKENS_PER_S, "contact_centre", 40, 36),
    ]
    assert derived_samples("contact_centre", StreamResult.failed("HTTP 502: x", 10)) == []
    assert [bucket(v) for v in (4.6, 512.4, 1234.5, 67149.0)] == [5, 512, 1230, 67100]


STATS_CSV = """\
Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,\
80%,90%,95%,98%,99%,99.9%,99.99%,100%
POST,contact_centre,40,2,900,950,500,2000,118.0,1.3,0.06,900,950,1000,1000,1200,1500,1800,\
2000,2000,2000,2000
TTFT,contact_centre,38,0,210,230,150,640,352.5,1.2,0.0,210,220,230,240,300,480,600,640,640,\
640,640
ITL,contact_centre,38,0,31,32,25,45,118.0,1.2,0.0,31,32,33,34,38,41,44,45,45,45,45
TOK/S,contact_centre,38,0,27,26,12,35,118.0,1.2,0.0,27,28,29,30,32,33,34,35,35,35,35
POST,batch_summary,3,3,100,100,100,100,0.0,0.1,0.1,100,100,100,100,100,100,100,100,100,100,100
TTFT,batch_summary,0,0,0,0,0,0,0.0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A
,Aggregated,41,2,900,950,25,2000,118.0,1.3,0.06,900,950,1000,1000,1200,1500,1800,2000,2000,\
2000,2000
"""


def test_the_summary_reads_locust_s_csv(tmp_path: Path) -> None:
    path = tmp_path / "locust_stats.csv"
    path.write_text(STATS_CSV)
    contact, batch = summarise(read_stats(path))
    assert (contact.name, contact.requests, contact.failures) == ("contact_centre", 40, 2)
    assert (contact.ttft_p50_ms, contact.ttft_p95_ms) == (210, 480)
    assert (contact.itl_p50_ms, contact.itl_p95_ms, contact.tokens_per_s_p50) == (31, 41, 27)
    assert (contact.prompt_tokens_mean, contact.output_tokens_mean) == (352.5, 118)
    assert contact.slo_verdict == "TTFT p95 <= 500 ms: met"
    assert (batch.failures, batch.ttft_p95_ms, batch.slo_verdict) == (3, None, "-")
    table = format_table([contact, batch]).splitlines()
    assert table[0].split()[:5] == ["workload", "reqs", "fails", "TTFT", "p50"]
    assert table[1].split()[:5] == ["contact_centre", "40", "2", "210", "480"]
    assert table[2].split()[:4] == ["batch_summary", "3", "3", "-"]


def test_a_missed_slo_says_so(tmp_path: Path) -> None:
    path = tmp_path / "locust_stats.csv"
    path.write_text(STATS_CSV.replace(",240,300,480,", ",240,300,520,"))
    contact, _ = summarise(read_stats(path))
    assert contact.slo_verdict == "TTFT p95 <= 500 ms: MISSED"


def test_the_wrapper_builds_a_headless_locust_command_without_the_key(tmp_path: Path) -> None:
    args, extra = run.parse_args(
        [
            "--host",
            "http://127.0.0.1:8080",
            "--api-key",
            "sk-secret",
            "--users",
            "50",
            "--spawn-rate",
            "10",
            "--run-time",
            "60s",
            "--out",
            str(tmp_path),
            "--",
            "--tags",
            "x",
        ]
    )
    command = run.locust_command(args, extra)
    assert command[1:5] == ["-m", "locust", "-f", str(run.LOCUSTFILE)]
    for flag, value in (
        ("--users", "50"),
        ("--csv", f"{tmp_path}/locust"),
        ("--html", f"{tmp_path}/report.html"),
        ("--max-context", "2048"),
    ):
        assert command[command.index(flag) + 1] == value
    assert "--headless" in command
    assert command[-2:] == ["--tags", "x"]
    assert "sk-secret" not in " ".join(command)
    env = run.child_environment("sk-secret")
    assert env["SOVEREIGN_API_KEY"] == "sk-secret"
    assert env["PYTHONPATH"].split(":")[0] == str(run.HERE.parent)
    default, _ = run.parse_args(["--host", "http://h"])
    assert default.out.parent == run.HERE / "results"
    with pytest.raises(ValueError, match="--weights"):
        run.parse_args(["--host", "http://h", "--weights", "nope=1"])
