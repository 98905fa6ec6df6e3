"""The green-list watermark's scheme and detector, without an engine (issue 17).

The engine (numpy over the vocabulary) and the detector (one token at a time) must compute
the same green lists; a simulated watermarked generation must be detected and unwatermarked
sequences must not, at the rate the normal tail promises."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from gateway.provenance.watermark import (
    DEFAULT_THRESHOLD_Z,
    WatermarkScheme,
    detect,
    detect_tokens,
    normal_tail,
)
from serving.local_engine import WATERMARK_PROCESSOR, EnginePaths, chat_model, engine_home
from serving.watermark_scheme import KEY_ENV, REQUEST_ARG, requested

KEY = bytes(range(32))
SCHEME = WatermarkScheme(key=KEY, gamma=0.25, delta=2.0)
SMOLLM2_VOCAB = 49152


@pytest.mark.parametrize("context", [(0,), (1,), (17,), (49151,), (3, 9, 27)])
def test_engine_and_detector_compute_the_same_green_list(context: tuple[int, ...]) -> None:
    scheme = WatermarkScheme(key=KEY, context_width=len(context))
    mask = scheme.green_mask(context, SMOLLM2_VOCAB)
    assert set(np.flatnonzero(mask).tolist()) == scheme.green_ids(context, SMOLLM2_VOCAB)
    # About gamma of the vocabulary, binomially (sd ~ 96 tokens here).
    assert abs(int(mask.sum()) - 0.25 * SMOLLM2_VOCAB) < 6 * math.sqrt(SMOLLM2_VOCAB * 0.1875)


def test_green_lists_depend_on_key_and_context_only() -> None:
    other_key = WatermarkScheme(key=bytes(32))
    a = SCHEME.green_mask((5,), 2000)
    assert (a == SCHEME.green_mask((5,), 2000)).all()
    assert (a == SCHEME.green_mask((5,), 3000)[:2000]).all()  # not the vocabulary size
    assert (a != SCHEME.green_mask((6,), 2000)).any()
    assert (a != other_key.green_mask((5,), 2000)).any()
    # Only the last context_width tokens count.
    assert SCHEME.seed([1, 2, 5]) == SCHEME.seed([5])


def test_scheme_refuses_weak_settings_and_round_trips_through_the_environment() -> None:
    for bad in (
        {"key": b"short"},
        {"key": KEY, "gamma": 0.0},
        {"key": KEY, "gamma": 1.0},
        {"key": KEY, "delta": -1.0},
        {"key": KEY, "context_width": 0},
    ):
        with pytest.raises(ValueError, match=r"must|needs"):
            WatermarkScheme(**bad)
    scheme = WatermarkScheme(key=KEY, gamma=0.5, delta=1.5, context_width=2)
    assert WatermarkScheme.from_env(scheme.engine_env()) == scheme
    assert WatermarkScheme.from_env({}) is None
    assert KEY.hex() not in repr(scheme)


def test_requests_switch_the_watermark_on_only_explicitly() -> None:
    assert not requested(None)
    assert not requested({})
    assert not requested({"other": 1})
    for off in (0, "0", "off", False, "", None):
        assert not requested({REQUEST_ARG: off})
    for on in (1, True, "1", "on", "true", 1.0):
        assert requested({REQUEST_ARG: on})


def _generate(
    scheme: WatermarkScheme | None, rng: np.random.Generator, length: int, vocab: int
) -> list[int]:
    """A toy language model: random logits per step (spread like a real model's), the
    scheme's bias on the green ones when watermarking, then sampling."""
    tokens = [int(rng.integers(vocab))]
    for _ in range(length):
        logits = rng.normal(0.0, 3.0, vocab)
        if scheme is not None:
            logits += scheme.delta * scheme.green_mask(tokens[-1:], vocab)
        probs = np.exp(logits - logits.max())
        tokens.append(int(rng.choice(vocab, p=probs / probs.sum())))
    return tokens


def test_detection_separates_watermarked_from_plain_sequences() -> None:
    rng = np.random.default_rng(7)
    marked = [detect_tokens(_generate(SCHEME, rng, 200, 5000), SCHEME) for _ in range(5)]
    plain = [detect_tokens(_generate(None, rng, 200, 5000), SCHEME) for _ in range(5)]
    assert all(d.detected and d.z > 6 for d in marked), [d.z for d in marked]
    assert not any(d.detected for d in plain), [d.z for d in plain]
    assert all(abs(d.z) < 4 for d in plain)
    d = marked[0]
    assert d.tokens_scored <= 200
    assert d.green > 0.25 * d.tokens_scored
    assert d.threshold_z == DEFAULT_THRESHOLD_Z
    assert d.false_positive_rate == pytest.approx(3.17e-5, rel=0.01)
    assert d.p_value == pytest.approx(normal_tail(d.z))


def test_false_positive_rate_on_unwatermarked_sequences_matches_theory() -> None:
    """z over 2,000 uniformly random 150-token texts: mean ~0, sd ~1, and the share at or
    above z = 2 within a 4-sigma binomial band around the normal tail (2.3 %)."""
    rng = random.Random(11)
    zs = [
        detect_tokens([rng.randrange(SMOLLM2_VOCAB) for _ in range(150)], SCHEME).z
        for _ in range(2000)
    ]
    n = len(zs)
    mean = sum(zs) / n
    sd = math.sqrt(sum((z - mean) ** 2 for z in zs) / (n - 1))
    assert abs(mean) < 0.1
    assert 0.9 < sd < 1.1
    expected = normal_tail(2.0)
    band = 4 * math.sqrt(expected * (1 - expected) / n)
    assert abs(sum(z >= 2.0 for z in zs) / n - expected) < band
    assert not any(z >= DEFAULT_THRESHOLD_Z for z in zs)


def test_repeated_context_token_pairs_are_scored_once() -> None:
    green = next(t for t in range(100) if SCHEME.is_green((7,), t))
    looped = [7, green] * 200  # a repetition loop: pairs (7, g) and (g, 7) only
    detection = detect_tokens(looped, SCHEME)
    assert detection.tokens_scored == 2
    assert not detection.detected
    assert detect_tokens([], SCHEME).z == 0.0
    assert detect_tokens([], SCHEME).p_value == 0.5


def test_text_is_retokenized_with_the_engines_tokenizer() -> None:
    model_dir = EnginePaths(engine_home()).model_dir
    if not (model_dir / "tokenizer.json").is_file():
        pytest.fail(f"no engine model in {model_dir}: run `make install`")
    scheme = WatermarkScheme(key=KEY, tokenizer=str(model_dir))
    text = (
        "The committee met on Tuesday to discuss the budget for next year. After a long "
        "debate, the members agreed to postpone the decision until the auditors had "
        "finished their review of the accounts, which is expected in early spring."
    )
    detection = detect(text, scheme)
    assert 30 < detection.tokens_scored < 60
    assert not detection.detected


def test_the_engine_loads_the_processor_only_when_asked() -> None:
    paths = EnginePaths(engine_home())
    plain = chat_model(paths)
    assert WATERMARK_PROCESSOR not in plain.options
    assert plain.env == ()
    marked = chat_model(paths, WatermarkScheme(key=KEY))
    assert marked.options[-2:] == ("--logits-processors", WATERMARK_PROCESSOR)
    env = dict(marked.env)
    assert env[KEY_ENV] == KEY.hex()
    assert "PYTHONPATH" in env
