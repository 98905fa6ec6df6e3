"""Detecting the engine's green-list text watermark (Kirchenbauer et al. 2023) in a text.

The scheme itself (key, gamma, delta, context width, the keyed green test) is
``serving/watermark_scheme.py``, the very code the engine's logits processor runs, so the two
sides cannot drift apart. Detection re-tokenizes the text with the engine model's tokenizer,
scores every token after the first ``context_width`` whose (context, token) pair has not been
seen before in the text (repeats carry no new evidence and would inflate the score of
repetitive text, as the paper's follow-up, Kirchenbauer et al. 2023b, recommends), and
computes the one-sided z-score of the green count:

    z = (green - gamma * T) / sqrt(T * gamma * (1 - gamma))

Without the key, each scored token is green with probability gamma, so P(z >= 4) is about
3.2e-5 (the normal tail; ``false_positive_rate``). Pure: no engine, no I/O beyond reading the
tokenizer file once per path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from tokenizers import Tokenizer

from serving.watermark_scheme import WatermarkScheme

__all__ = ["DEFAULT_THRESHOLD_Z", "Detection", "WatermarkScheme", "detect", "detect_tokens"]

# z >= 4: a one-sided false-positive rate of 3.2e-5 per text, the paper's choice.
DEFAULT_THRESHOLD_Z = 4.0
# Below this many scored tokens no decision is "detected", whatever z says: the normal
# approximation of the binomial is poor for a handful of tokens.
MIN_SCORED_TOKENS = 16


@dataclass(frozen=True)
class Detection:
    tokens_scored: int
    green: int
    z: float
    p_value: float
    detected: bool
    threshold_z: float
    false_positive_rate: float


def normal_tail(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def detect_tokens(
    token_ids: Sequence[int],
    scheme: WatermarkScheme,
    *,
    threshold_z: float = DEFAULT_THRESHOLD_Z,
    min_tokens: int = MIN_SCORED_TOKENS,
) -> Detection:
    """Score a token sequence (the text's own tokens, without the prompt)."""
    width = scheme.context_width
    seen: set[tuple[int, ...]] = set()
    scored = green = 0
    for i in range(width, len(token_ids)):
        pair = (*token_ids[i - width : i], token_ids[i])
        if pair in seen:
            continue
        seen.add(pair)
        scored += 1
        green += scheme.is_green(pair[:-1], pair[-1])
    gamma = scheme.gamma
    spread = math.sqrt(scored * gamma * (1.0 - gamma))
    z = (green - gamma * scored) / spread if scored else 0.0
    return Detection(
        tokens_scored=scored,
        green=green,
        z=z,
        p_value=normal_tail(z),
        detected=scored >= min_tokens and z >= threshold_z,
        threshold_z=threshold_z,
        false_positive_rate=normal_tail(threshold_z),
    )


@lru_cache(maxsize=4)
def load_tokenizer(path: str) -> Tokenizer:
    """The engine model's ``tokenizer.json`` (or its folder), read once per path."""
    if not path:
        raise ValueError("the watermark scheme names no tokenizer to re-tokenize text with")
    file = path if path.endswith(".json") else path.rstrip("/") + "/tokenizer.json"
    return Tokenizer.from_file(file)


def tokenize(text: str, scheme: WatermarkScheme) -> list[int]:
    ids: list[int] = load_tokenizer(scheme.tokenizer).encode(text, add_special_tokens=False).ids
    return ids


def detect(
    text: str,
    scheme: WatermarkScheme,
    *,
    threshold_z: float = DEFAULT_THRESHOLD_Z,
    min_tokens: int = MIN_SCORED_TOKENS,
) -> Detection:
    """Whether ``text`` carries the scheme's watermark (``Detection.detected``), with the
    evidence: tokens scored, green tokens, z, its p-value and the threshold's FPR."""
    return detect_tokens(
        tokenize(text, scheme), scheme, threshold_z=threshold_z, min_tokens=min_tokens
    )
