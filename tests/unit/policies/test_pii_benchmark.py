"""The PII benchmark in quick mode: our analyzer meets its targets against stock Presidio.

It runs as a subprocess, as a developer runs it (``python -m loadtest.pii_benchmark --quick``),
so a missed target fails here with the benchmark's own report. Its table is printed at the end
of the pytest run (a terminal-summary plugin registered by the test) and its headline numbers
join the suite's ``TIMINGS``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from policies import entities as E
from tests.servers import TIMINGS

ROOT = Path(__file__).resolve().parents[3]


class BenchmarkSummary:
    """A pytest plugin that prints the benchmark's table in the terminal summary."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.write_sep("-", "PII benchmark (python -m loadtest.pii_benchmark --quick)")
        for line in self.lines:
            terminalreporter.write_line(line)


def test_quick_benchmark_meets_its_targets(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    out = tmp_path / "pii.json"
    proc = subprocess.run(
        [sys.executable, "-m", "loadtest.pii_benchmark", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(proc.stdout)
    report = json.loads(out.read_text(encoding="utf-8"))
    summary = report["table"] + [
        f"target {'ok' if t['ok'] else 'MISSED'}: {t['name']} = {t['value']:.4g}"
        for t in report["targets"]
    ]
    pytestconfig.pluginmanager.register(BenchmarkSummary(summary), "pii-benchmark-summary")
    TIMINGS["PII analyzer p99, 1,000 chars (ms)"] = report["latency_ms"]["p99"]
    TIMINGS["PII analyzer throughput / stock Presidio (x)"] = report["throughput"]["ratio"]

    assert set(report["per_type"]) == set(E.ALL)
    for entity, row in report["per_type"].items():
        assert row["ours"]["support"] > 0, entity
        assert 0.0 <= row["ours"]["recall"] <= 1.0
    assert report["per_type"][E.IBAN]["stock"] is not None  # stock has an IBAN recognizer
    assert report["per_type"][E.NL_BSN]["stock"] is None  # ... and none for the BSN
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
