"""The PII benchmark in quick mode: our analyzer meets its targets against stock Presidio.

It runs as a subprocess, as a developer runs it (``python -m loadtest.pii_benchmark --quick``),
on the three labelled sets: the development set the recognizers were tuned on, the held-out set
written blind to them, and the adversarial set of obfuscated values (scored per category:
recall >= 0.95 in each but ``split_messages``, which is measured only). A missed target on any
fails here with the benchmark's own report. The tables are printed at the end of the pytest
run (a terminal-summary plugin registered by the test) and the headline numbers join the
suite's ``TIMINGS``.

Only the quality targets (recall, false positives, F1) are held here. The speed targets (p99,
throughput against stock) are the benchmark's own, run on a quiet machine: on a shared CI
machine a load spike moves a p99 by milliseconds, and a speed target is never checked by a
timed unit test. They are printed with the rest.
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
    assert quality_held(section) == [], section["targets"]
    assert section["lookalikes"]["total"] >= 250


# The adversarial set's categories (tests/pii_eval/generate_adversarial.py).
ADVERSARIAL_CATEGORIES = {
    "zero_width", "soft_hyphen", "fullwidth", "confusable", "dash_groups", "unicode_dash",
    "unicode_space", "mixed", "base64", "split_messages", "hidden_field",
}  # fmt: skip
# Speed targets: reported here, held by the benchmark itself (see the module docstring).
SPEED = ("p99", "throughput")


def quality_held(section: dict[str, Any]) -> list[str]:
    """The quality targets a section missed (empty: all held)."""
    return [
        t["name"]
        for t in section["targets"]
        if not t["ok"] and not any(word in t["name"] for word in SPEED)
    ]


def check_adversarial(section: dict[str, Any]) -> None:
    """Every category scored for both detectors; only the split category goes untargeted."""
    assert section["dataset"]["name"] == "adversarial"
    assert set(section["per_category"]) == ADVERSARIAL_CATEGORIES
    for category, row in section["per_category"].items():
        assert row["ours"]["support"] >= 20, category
        # Hidden fields test what the gateway hands the analyzer: positives only.
        assert row["ours"]["lookalikes"] >= (0 if category == "hidden_field" else 15), category
        assert row["measured_only"] == (category == "split_messages")
        if not row["measured_only"]:
            assert row["ours"]["recall"] >= 0.95, (category, row)
    assert len(section["targets"]) == 3
    assert quality_held(section) == []


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
    adversarial = report["adversarial"]
    lines = summary("dev set (the recognizers were tuned on it)", report)
    lines += ["", *summary("held-out set (written blind to the recognizers)", holdout)]
    lines += ["", *adversarial["table"]]
    pytestconfig.pluginmanager.register(BenchmarkSummary(lines), "pii-benchmark-summary")
    TIMINGS["PII analyzer p99, 1,000 chars (ms)"] = report["latency_ms"]["p99"]
    TIMINGS["PII analyzer throughput / stock Presidio (x)"] = report["throughput"]["ratio"]

    split = adversarial["per_category"]["split_messages"]["ours"]
    TIMINGS["PII adversarial: values split across messages masked (%)"] = 100 * split["recall"]

    check_section(report, "dev")
    check_section(holdout, "holdout")
    check_adversarial(adversarial)
    assert holdout["dataset"]["texts"] >= 250
    assert "holdout" in proc.stdout
    assert "adversarial" in proc.stdout
    # Non-zero when any target is missed, speed ones included: ran to the end, reported.
    assert proc.returncode in (0, 1), proc.stdout[-6000:] + proc.stderr[-2000:]
