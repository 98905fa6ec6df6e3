"""Pseudo-tokenizer, deterministic output, embeddings, and the fault syntax."""

from __future__ import annotations

import math

import pytest

from serving.simulator import text
from serving.simulator.faults import (
    ErrorDice,
    FaultSpec,
    FaultSyntaxError,
    parse_engine_fault,
    parse_fault,
)

ENGLISH = (
    "The Free State of Bavaria is a state in the south-east of Germany. With an area of "
    "70,550 square kilometres, it is the largest German state by land area."
)


def test_token_counts_are_stable_and_near_four_characters_per_token() -> None:
    assert text.count_tokens("The quick brown fox jumps over the lazy dog.") == 10
    assert text.split_tokens(" capital") == [" capit", "al"]
    assert text.split_tokens("<|im_start|>user\n") == ["<|im_start|>", "user", "\n"]
    assert text.split_tokens("1234567") == ["123", "456", "7"]
    chars_per_token = len(ENGLISH) / text.count_tokens(ENGLISH)
    assert 3.5 < chars_per_token < 5.5
    assert text.tokenize_text(ENGLISH) == text.tokenize_text(ENGLISH)


def test_shared_prompt_prefixes_share_their_block_hashes() -> None:
    system = ("system", "You are a careful assistant for the public sector. " * 8)
    one = text.tokenize_text(text.render_chat([system, ("user", "First question?")]))
    two = text.tokenize_text(text.render_chat([system, ("user", "Another one entirely.")]))
    shared = 0
    for a, b in zip(one.block_hashes, two.block_hashes, strict=False):
        if a != b:
            break
        shared += 1
    assert shared >= 4
    assert one.block_hashes != two.block_hashes
    assert len(one.block_hashes) == one.count // 16
    assert one.seed != two.seed


def test_output_is_deterministic_per_seed_and_lengths_vary() -> None:
    assert text.output_text(42, 20) == text.output_text(42, 20)
    assert text.output_text(42, 20) != text.output_text(43, 20)
    assert not text.output_text(7, 1).startswith(" ")
    lengths = [text.natural_length(seed) for seed in range(200)]
    assert min(lengths) >= 1
    assert 100 < sorted(lengths)[100] < 400


def test_embeddings_are_unit_vectors_and_similar_texts_are_closer() -> None:
    def vec(s: str) -> list[float]:
        return text.embed(text.split_tokens(s))

    a, b, c = vec("tax rules for Bavaria"), vec("tax rules for Bavaria 2026"), vec("zebra")
    assert len(a) == text.EMBEDDING_DIMS
    assert math.isclose(sum(x * x for x in a), 1.0)
    assert vec("tax rules for Bavaria") == a

    def cos(u: list[float], v: list[float]) -> float:
        return sum(x * y for x, y in zip(u, v, strict=True))

    assert cos(a, b) > cos(a, c)


def test_fault_specs_parse_and_overlay() -> None:
    assert parse_fault("error=500") == FaultSpec(error_status=500)
    spec = parse_fault("ttft=2.5, stall=10,stall_after=3,disconnect_after=5")
    assert (spec.ttft_s, spec.stall_s, spec.stall_after, spec.disconnect_after) == (2.5, 10, 3, 5)
    assert parse_fault("crash").crash is True
    assert parse_engine_fault("3:error_rate=0.1,crash_at=60") == (
        3,
        FaultSpec(error_rate=0.1, crash_at=60.0),
    )
    engine = FaultSpec(error_rate=0.5, ttft_s=1.0)
    merged = engine.overlay(parse_fault("ttft=2", engine_level=False))
    assert (merged.error_rate, merged.ttft_s) == (0.5, 2.0)
    assert FaultSpec().is_empty
    assert not merged.is_empty


@pytest.mark.parametrize(
    "bad", ["explode", "error=abc", "error=200", "error_rate=2", "ttft=-1", "stall"]
)
def test_bad_fault_specs_are_refused(bad: str) -> None:
    with pytest.raises(FaultSyntaxError):
        parse_fault(bad)


def test_request_headers_cannot_schedule_engine_crashes() -> None:
    with pytest.raises(FaultSyntaxError):
        parse_fault("crash_after=3", engine_level=False)
    with pytest.raises(FaultSyntaxError):
        parse_engine_fault("no-index")


def test_error_rates_are_seeded_per_engine() -> None:
    spec = FaultSpec(error_rate=0.3)
    one, two = ErrorDice(7), ErrorDice(7)
    draws = [one.fails(spec) for _ in range(1000)]
    assert draws == [two.fails(spec) for _ in range(1000)]
    assert 240 < sum(draws) < 360
    assert ErrorDice(1).fails(FaultSpec(error_status=503))
    assert not ErrorDice(1).fails(FaultSpec())
