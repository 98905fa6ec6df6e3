"""The PII benchmark in quick mode: our analyzer meets its targets against stock Presidio.

It runs as a subprocess, as a developer runs it (``python -m loadtest.pii_benchmark --quick``),
on both labelled sets: the development set the recognizers were tuned on and the held-out set
written blind to them. A missed target on either fails here with the benchmark's own report.
Both tables are printed at the end of the pytest run (a terminal-summary plugin registered by
the test) and the headline numbers join the suite's ``TIMINGS``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from policies import entities as E
from tests.servers import TIMINGS

ROOT = Path(__file__).resolve().parents[3]


class BenchmarkSummary:
    """A pytest plugin that prints the benchmark's tables in the terminal summary."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.write_sep("-", "PII benchmark (python -m loadtest.pii_benchmark --quick)")
        for line in self.lines:
            terminalreporter.write_line(line)


def summary(title: str, section: dict[str, Any]) -> list[str]:
    return [
        title,
        *section["table"],
        *(
            f"target {'ok' if t['ok'] else 'MISSED'}: {t['name']} = {t['value']:.4g}"
            for t in section["targets"]
        ),
    ]


def check_section(section: dict[str, Any], name: str) -> None:
    """One data set's results: every entity type scored, the stock columns where they belong."""
    assert section["dataset"]["name"] == name
    assert set(section["per_type"]) == set(E.ALL)
    for entity, row in section["per_type"].items():
        assert row["ours"]["support"] > 0, (name, entity)
        assert 0.0 <= row["ours"]["recall"] <= 1.0
    assert section["per_type"][E.IBAN]["stock"] is not None  # stock has an IBAN recognizer
    assert section["per_type"][E.NL_BSN]["stock"] is None  # ... and none for the BSN
    assert len(section["targets"]) == 7
    assert section["lookalikes"]["total"] >= 250


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
    holdout = report["holdout"]  # the dev set's results stay at the top level
    lines = summary("dev set (the recognizers were tuned on it)", report)
    lines += ["", *summary("held-out set (written blind to the recognizers)", holdout)]
    pytestconfig.pluginmanager.register(BenchmarkSummary(lines), "pii-benchmark-summary")
    TIMINGS["PII analyzer p99, 1,000 chars (ms)"] = report["latency_ms"]["p99"]
    TIMINGS["PII analyzer throughput / stock Presidio (x)"] = report["throughput"]["ratio"]

    check_section(report, "dev")
    check_section(holdout, "holdout")
    assert holdout["dataset"]["texts"] >= 250
    assert "holdout" in proc.stdout
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
