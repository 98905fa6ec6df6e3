"""The restoration delay benchmark runs, restores exactly, and holds back less than one
placeholder (the benchmark itself asserts it; its numbers are printed in the suite)."""

from __future__ import annotations

import pytest

from loadtest.restore_delay import MAPPING, delays, main


def test_benchmark_meets_its_target_and_prints_its_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--repeat", "5"]) == 0
    out = capsys.readouterr().out
    assert "longest tail held back:" in out
    assert "CPU per event:" in out
    with capsys.disabled():
        print("\n" + out)


def test_a_placeholder_split_into_tokens_is_held_only_while_it_can_still_complete() -> None:
    held, waited, _ = delays("Guten Tag <PERSON_1>, und 3 < 4 sowie <PERS ohne Ende.")
    assert 0 < held < max(map(len, MAPPING))
    assert waited <= len("<PERSON_1>")
