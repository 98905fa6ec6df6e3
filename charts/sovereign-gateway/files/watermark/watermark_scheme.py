"""The green-list text watermark's scheme (Kirchenbauer et al. 2023, "A Watermark for Large
Language Models"), shared by the engine's logits processor and the gateway's detector.

For each position the previous ``context_width`` token ids select a pseudo-random "green"
share ``gamma`` of the vocabulary; generation adds ``delta`` to the green logits; detection
counts green tokens and asks how unlikely that count is for text written without the key.

Both sides must agree bit for bit, so the randomness is specified here rather than borrowed
from a library whose stream may change between versions (numpy makes no such promise for its
``Generator``):

- the context's seed is the first 8 bytes of HMAC-SHA256(key, b"sgw-wm1" || each context
  token id as 4 big-endian bytes), read as an unsigned 64-bit integer;
- token ``t`` is green for that seed when SplitMix64's output for the counter ``t + 1``
  (state ``seed + (t + 1) * 0x9E3779B97F4A7C15``, modulo 2**64) is below ``gamma * 2**64``.

A per-token test (rather than a shuffled vocabulary) makes the green set independent of the
vocabulary size and lets the detector check one token in O(1); the engine computes the same
test over the whole vocabulary at once with numpy (``green_mask``). The seed is secret (keyed
HMAC); SplitMix64 only spreads it over the token ids. The green set's size is binomial around
``gamma * |V|`` instead of exactly that, which leaves the per-token null probability ``gamma``
on which the detector's z-score rests unchanged.

Stdlib only at import (numpy is imported by ``green_mask``), so that the engine's own
environment can import it beside vLLM without the gateway's dependencies.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# The engine process reads its scheme from these (never from a request).
KEY_ENV = "SOVEREIGN_WATERMARK_KEY"  # hex; 16 bytes or more
GAMMA_ENV = "SOVEREIGN_WATERMARK_GAMMA"
DELTA_ENV = "SOVEREIGN_WATERMARK_DELTA"
CONTEXT_ENV = "SOVEREIGN_WATERMARK_CONTEXT"
# The per-request switch, in SamplingParams.extra_args (the OpenAI body's ``vllm_xargs``).
REQUEST_ARG = "sovereign_watermark"

DOMAIN = b"sgw-wm1"
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
MIN_KEY_BYTES = 16


def _splitmix64(state: int) -> int:
    z = state & MASK64
    z = ((z ^ (z >> 30)) * MIX1) & MASK64
    z = ((z ^ (z >> 27)) * MIX2) & MASK64
    return z ^ (z >> 31)


@dataclass(frozen=True)
class WatermarkScheme:
    """One deployment's watermark: the secret key and the strength. ``tokenizer`` is the path
    of the engine model's ``tokenizer.json`` (the detector re-tokenizes text with it; the
    engine ignores it)."""

    key: bytes = field(repr=False)
    gamma: float = 0.25
    delta: float = 2.0
    context_width: int = 1
    tokenizer: str = ""

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_BYTES:
            raise ValueError(f"the watermark key needs {MIN_KEY_BYTES} bytes or more")
        if not 0.0 < self.gamma < 1.0:
            raise ValueError("gamma (the green share of the vocabulary) must be in (0, 1)")
        if self.delta < 0.0:
            raise ValueError("delta (the green logits' bias) must not be negative")
        if self.context_width < 1:
            raise ValueError("the context width must be 1 or more tokens")

    @property
    def threshold(self) -> int:
        """A token is green when its 64-bit draw is below this."""
        return int(self.gamma * 2.0**64)

    def seed(self, context: Sequence[int]) -> int:
        """The context's seed: its last ``context_width`` token ids, keyed."""
        window = context[-self.context_width :]
        message = DOMAIN + b"".join(int(t).to_bytes(4, "big") for t in window)
        digest = hmac.new(self.key, message, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big")

    def is_green(self, context: Sequence[int], token: int) -> bool:
        draw = _splitmix64(self.seed(context) + (token + 1) * GOLDEN)
        return draw < self.threshold

    def green_ids(self, context: Sequence[int], vocab_size: int) -> set[int]:
        """The green list over ``range(vocab_size)`` (tests and inspection; slow for big V)."""
        seed = self.seed(context)
        limit = self.threshold
        return {t for t in range(vocab_size) if _splitmix64(seed + (t + 1) * GOLDEN) < limit}

    def green_mask(self, context: Sequence[int], vocab_size: int) -> npt.NDArray[np.bool_]:
        """``is_green`` for every token id below ``vocab_size`` at once (the engine's path):
        uint64 arithmetic wraps modulo 2**64 as the scalar definition does."""
        import numpy as np

        counter = np.arange(1, vocab_size + 1, dtype=np.uint64)
        z = counter * np.uint64(GOLDEN) + np.uint64(self.seed(context))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
        z = z ^ (z >> np.uint64(31))
        mask: npt.NDArray[np.bool_] = z < np.uint64(self.threshold)
        return mask

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WatermarkScheme | None:
        """The engine's scheme from its environment, or None when no key is set."""
        env = os.environ if environ is None else environ
        key_hex = env.get(KEY_ENV, "").strip()
        if not key_hex:
            return None
        return cls(
            key=bytes.fromhex(key_hex),
            gamma=float(env.get(GAMMA_ENV, "0.25")),
            delta=float(env.get(DELTA_ENV, "2.0")),
            context_width=int(env.get(CONTEXT_ENV, "1")),
        )

    def engine_env(self) -> dict[str, str]:
        """The environment that gives an engine process this scheme (``from_env``'s inverse)."""
        return {
            KEY_ENV: self.key.hex(),
            GAMMA_ENV: repr(self.gamma),
            DELTA_ENV: repr(self.delta),
            CONTEXT_ENV: str(self.context_width),
        }


def requested(extra_args: Mapping[str, Any] | None) -> bool:
    """Whether a request's extra args switch the watermark on (absent: off)."""
    if not extra_args:
        return False
    value = extra_args.get(REQUEST_ARG)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "on", "yes"}
    return value is True or (isinstance(value, int | float) and value == 1)
