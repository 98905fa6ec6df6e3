"""The per-event cost benchmark measures every layer on every answer, and what it relays is
the answer as the policy wants it (its numbers are BENCHMARKS.md's; the suite prints them)."""

from __future__ import annotations

import asyncio

import pytest

from loadtest.event_cost import ANSWERS, LAYERS, MAPPING, _table, measure


def test_every_layer_is_measured_and_relays_what_the_policy_wants(
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = asyncio.run(measure(1))
    assert set(results["cpu"]) == set(ANSWERS)
    assert all(layer in results["cpu"][answer] for answer in ANSWERS for layer in LAYERS)
    texts = results["text"]
    assert texts["prose/tap"] == texts["prose/tap+guard+restore"]  # prose passes unchanged
    assert "<PERSON_1>" in texts["mixed/tap"]
    assert MAPPING["<PERSON_1>"] in texts["mixed/tap+restore"]
    guarded = texts["mixed/tap+guard+restore"]
    assert "GB82" not in guarded
    assert "<IBAN>" in guarded
    assert MAPPING["<PERSON_1>"] in guarded
    assert results["analyses"]["prose/tap+guard+restore"] == 0  # eager: prose is not analysed
    with capsys.disabled():
        print("\n" + "\n".join(_table({"this tree": results})))


def test_per_chunk_usage_is_taken_out_and_changes_nothing_else() -> None:
    # Issue 14: the engine's usage on every event (abort mode), a client that asked for none.
    plain, continuous = asyncio.run(measure(1)), asyncio.run(measure(1, continuous=True))
    assert continuous["text"] == plain["text"]
    assert continuous["analyses"] == plain["analyses"]
