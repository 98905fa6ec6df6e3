"""A real headless Locust run (a few seconds, 3 users) against the fake streaming server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.metrics import ITL, REQUEST, TOKENS_PER_S, TTFT
from loadtest.summary import read_stats
from loadtest.workloads import WORKLOADS
from tests.unit.loadtest.fake_openai import FakeOpenAI, ServerThread

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    server = ServerThread(fake.app())
    server.start()
    try:
        yield fake, server.url
    finally:
        server.stop()


def run_locust(
    url: str, out: Path, model: str, users: int, seconds: int, weights: str
) -> subprocess.CompletedProcess[str]:
    command = [
        *(sys.executable, "-m", "loadtest.run", "--host", url, "--api-key", "sk-load-test"),
        *("--model", model, "--users", str(users), "--spawn-rate", str(users)),
        *("--run-time", f"{seconds}s", "--stop-timeout", "2s", "--think-scale", "0.05"),
        *("--weights", weights, "--out", str(out)),
    ]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def run(
    fake: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("loadtest") / "run"
    weights = "contact_centre=1,citizen_chat=1,batch_summary=1"
    return run_locust(fake[1], out, "fake-model", 3, 3, weights), out


def test_the_run_writes_csv_and_html_and_prints_the_table(
    run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, out = run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv"):
        assert (out / name).stat().st_size > 0
    assert "<html" in (out / "report.html").read_text().lower()
    assert "sk-load-test" not in (out / "run.json").read_text()
    for workload in WORKLOADS:
        assert workload in done.stdout
    assert "TTFT p95" in done.stdout


def test_every_workload_has_its_ttft_and_itl_entries(
    run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    rows = read_stats(run[1] / "locust_stats.csv")
    for workload in WORKLOADS:
        for kind in (REQUEST, TTFT, ITL, TOKENS_PER_S):
            row = rows[(kind, workload)]
            assert int(row["Request Count"]) >= 1, (kind, workload)
            assert int(row["Failure Count"]) == 0, (kind, workload)
        # The fake server sends 6 tokens 5 ms apart: TTFT and ITL are a few ms, not seconds.
        assert 0 < float(rows[(ITL, workload)]["Median Response Time"]) < 200


def test_requests_were_streamed_with_usage_keys_and_session_ids(
    fake: tuple[FakeOpenAI, str], run: tuple[subprocess.CompletedProcess[str], Path]
) -> None:
    assert run[0].returncode == 0
    seen = fake[0].requests
    assert all(
        r.body["stream"] and r.body["stream_options"] == {"include_usage": True} for r in seen
    )
    assert all(r.headers["authorization"] == "Bearer sk-load-test" for r in seen)
    assert all(r.body["model"] == "fake-model" for r in seen)
    citizen = [r for r in seen if r.body.get("user", "").startswith("citizen-")]
    assert citizen, "no citizen_chat request reached the server"
    assert all(r.headers["x-session-id"] == r.body["user"] for r in citizen)
    # Later turns of a session re-send the history: more messages than the first turn.
    assert max(len(r.body["messages"]) for r in citizen) > 2


def test_http_and_in_band_errors_are_failures(tmp_path: Path) -> None:
    server = ServerThread(FakeOpenAI().app())  # its own server: the shared one's log stays clean
    server.start()
    try:
        done = run_locust(server.url, tmp_path, "broken", 1, 1, "batch_summary=1")
    finally:
        server.stop()
    assert done.returncode == 1, done.stderr[-3000:]  # Locust's exit code when requests failed
    rows = read_stats(tmp_path / "locust_stats.csv")
    post = rows[(REQUEST, "batch_summary")]
    assert int(post["Failure Count"]) == int(post["Request Count"]) > 0
    assert (TTFT, "batch_summary") not in rows  # no timing from failed requests
    failures = (tmp_path / "locust_failures.csv").read_text()
    assert "HTTP 500: upstream_error: engine down" in failures
    assert "upstream_error: engine lost" in failures
