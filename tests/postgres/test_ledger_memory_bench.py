"""``python -m loadtest.ledger_memory --minutes 0.5``: the benchmark's own smoke run, with a
redis-server of its own, the simulator, a gateway process and the PostgreSQL ledger. It must
find the ledger's totals equal to the simulator's token counters, and Redis free of ledgers."""

from __future__ import annotations

import pytest

from loadtest.ledger_memory import main


def test_the_ledger_memory_benchmark_runs_and_its_totals_match(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["--minutes", "0.5", "--marker-ttl", "0.25", "--concurrency", "4"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "EQUAL" in out
    assert "NOT EQUAL" not in out
    assert "hand-off left 0" in out
    assert "used_memory: start" in out
