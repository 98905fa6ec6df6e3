"""Pseudo-tokenizer, chat template, prefix-cache block hashes and deterministic output text.

Nothing here is a real tokenizer: it must only be cheap, deterministic across processes and
runs (usage numbers are asserted in tests), and close to real BPE counts on English text
(about one token per 4 to 5 characters). Rules, in order of the regular expression: a chat
special token (``<|im_start|>``) is one token; letters come in chunks of up to five, the first
carrying one leading space (" capital" -> " capit" + "al"); digits in groups of up to three
(as Llama 3 does); any other character is a token of its own; a run of whitespace not
followed by a word is one token.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from serving.perfmodel import BLOCK_SIZE

_TOKEN_RE = re.compile(r"<\|[a-z_]+\|>| ?[^\W\d_]{1,5}|\d{1,3}| ?[^\w\s]|\s+")

# Output lengths when the request leaves the model free to stop: log-normal, median about
# 200 tokens (a typical chat answer), so a few answers are short and some run long.
NATURAL_MEDIAN_TOKENS = 200.0
NATURAL_SIGMA = 0.75

EMBEDDING_DIMS = 384

_WORD_LIST = (
    "the of and to in is that for it as was with be by on not he this are or his from at "
    "which but have an they you were had her all she there would their we him been has when "
    "who will more no if out so said what up its about into than them can only other new "
    "some could time these two may then do first any my now such like our over man me even "
    "most made after also did many before must through back years where much your way well "
    "down should because each just those people how too little state good very make world "
    "still own see men work long get here between both life being under never day same "
    "another know while last might us great old year off come since against go came right "
    "used take three engine token model cache batch stream request answer region data "
    "server policy quota latency"
)
_WORDS = _WORD_LIST.split()
_STARTS = ("The", "In", "It", "This", "A", "We", "Yes", "Here", "For", "When", "As", "Our")

# Token texts of the output "vocabulary": words with their leading space plus punctuation,
# and their JSON encodings computed once, so streaming a token costs a list lookup.
VOCAB: tuple[str, ...] = (*(" " + w for w in _WORDS), ",", ".", ",", ".", "\n\n", *_STARTS)
VOCAB_JSON: tuple[bytes, ...] = tuple(orjson.dumps(t) for t in VOCAB)
_N_BODY = len(VOCAB) - len(_STARTS)  # tokens after the first are drawn from these
_FIRST = _N_BODY  # the first token is one of the capitalised words, without a space
_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class PromptTokens:
    """What the engine needs to know about a prompt: its length and identity."""

    count: int
    block_hashes: tuple[int, ...]  # chained hashes of its full 16-token blocks
    seed: int  # drives the output text and its natural length


def split_tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    return len(_TOKEN_RE.findall(text))


def _digest(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def block_hashes(pieces: Sequence[str]) -> tuple[int, ...]:
    """vLLM-style chained block hashes: each full block's hash covers all blocks before it."""
    hashes: list[int] = []
    parent = 0
    for start in range(0, len(pieces) - BLOCK_SIZE + 1, BLOCK_SIZE):
        block = "\x1f".join(pieces[start : start + BLOCK_SIZE]).encode()
        parent = _digest(parent.to_bytes(8, "little") + block)
        hashes.append(parent)
    return tuple(hashes)


def tokenize_text(text: str, seed: int | None = None) -> PromptTokens:
    pieces = split_tokens(text)
    base = _digest(text.encode())
    return PromptTokens(len(pieces), block_hashes(pieces), base ^ (seed or 0))


def tokenize_ids(ids: Sequence[int], seed: int | None = None) -> PromptTokens:
    pieces = [str(i) for i in ids]
    base = _digest(",".join(pieces).encode())
    return PromptTokens(len(pieces), block_hashes(pieces), base ^ (seed or 0))


def render_chat(messages: Iterable[tuple[str, str]]) -> str:
    """ChatML, as SmolLM2's template: shared system prompts share prefix-cache blocks."""
    turns = [f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages]
    return "".join(turns) + "<|im_start|>assistant\n"


def natural_length(seed: int) -> int:
    """How many tokens the model would write before its end-of-sequence token (>= 1)."""
    rng = random.Random(seed)  # noqa: S311 - simulation, not security
    return max(1, round(rng.lognormvariate(math.log(NATURAL_MEDIAN_TOKENS), NATURAL_SIGMA)))


def token_index(seed: int, position: int) -> int:
    """Index into VOCAB of output token ``position``: a cheap 64-bit mix, no RNG object."""
    if position == 0:
        return _FIRST + seed % len(_STARTS)
    x = (seed ^ (position * 0x9E3779B97F4A7C15)) & _MASK
    x = ((x ^ (x >> 31)) * 0xBF58476D1CE4E5B9) & _MASK
    return (x >> 29) % _N_BODY


def output_text(seed: int, count: int) -> str:
    return "".join(VOCAB[token_index(seed, i)] for i in range(count))


def embed(pieces: Sequence[str], dims: int = EMBEDDING_DIMS) -> list[float]:
    """Deterministic unit vector by feature hashing: texts sharing words point alike."""
    vector = [0.0] * dims
    for piece in pieces or ("",):
        digest = hashlib.blake2b(piece.strip().lower().encode(), digest_size=16).digest()
        for k in range(0, 16, 4):  # four signed features per token, for denser vectors
            slot = int.from_bytes(digest[k : k + 3], "little")
            vector[slot % dims] += 1.0 if digest[k + 3] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]
