"""The watermark evaluation's own parts (``loadtest/watermark_eval.py``): the light edit, the
human corpus it measures false positives on, and the table BENCHMARKS.md quotes. The
measurement itself needs the real engine: ``python -m loadtest.watermark_eval --deltas ...``."""

from __future__ import annotations

import random

import pytest

from loadtest.watermark_corpus import replace_words
from loadtest.watermark_eval import main, table


def test_a_light_edit_replaces_the_share_of_words_asked() -> None:
    text = " ".join(f"w{i}" for i in range(200))
    edited = replace_words(text, 0.10, ["X"], random.Random(1))
    changed = sum(a != b for a, b in zip(text.split(), edited.split(), strict=True))
    assert changed == 20


def _summary(delta: float) -> dict[str, object]:
    names = ("watermarked", "plain", "watermarked_10pct_words_replaced", "human_en", "human_de")
    texts = dict(zip(names, (48, 48, 48, 250, 146), strict=True))
    rate = dict(zip(names, (1.0, 0.0, 0.9375, 0.0, 1 / 146), strict=True))
    z = {name: {"min": -1.0 + i, "mean": 2.0 + i, "max": 3.0 + i} for i, name in enumerate(names)}
    return {
        "scheme": {"delta": delta},
        "texts": texts,
        "detection_rate": rate,
        "z": z,
        "perplexity_median": {"watermarked": 47.81, "plain": 21.6},
    }


def test_the_table_counts_texts_not_rates() -> None:
    rows = table([_summary(1.5), _summary(2.0)]).splitlines()
    assert len(rows) == 4
    assert rows[2] == (
        "| 1.5 | 48/48 | -1.0 / 2.0 | 45/48 | 1.0 | 0/48 | 0/250 / 1/146 | 6.00 / 7.00 "
        "| 47.8 / 21.6 |"
    )
    assert rows[3].startswith("| 2.0 |")


def test_it_needs_an_engine_or_strengths() -> None:
    with pytest.raises(SystemExit) as refused:
        main([])
    assert refused.value.code == 2
