"""The three workloads our users run, as data and seeded samplers (no I/O, no Locust).

Lengths are in tokens. "median m, sigma s, a..b" is a log-normal with median ``m``
(``mu = ln m``) and shape ``s``, rounded and clamped to ``[a, b]``; think times are uniform.

contact_centre (agent assist)
    prompt median 350 (incl. the system prompt), sigma 0.3, 250..1,000;
    output median 120, sigma 0.5, 16..400; think 2-6 s; one request per turn.
citizen_chat (public-sector chatbot)
    3-8 turns (uniform); prompt = system prompt (~290) + whole history + question, so it
    grows by about 280 tokens a turn; output median 250, sigma 0.4, 32..600; think 5-20 s.
batch_summary (summarisation)
    prompt median 3,000, sigma 0.5, 500..16,000; output median 300, sigma 0.15, 150..450;
    no think time.

- contact_centre: a shared system prompt (about 170 tokens, the same for every request, so
  the prefix cache holds it) and a synthetic German call transcript; SLO TTFT p95 <= 500 ms.
- citizen_chat: German questions about municipal services; each turn re-sends the whole
  history with the engine's real answers, so turn n+1's prompt starts with turn n's prompt
  plus its answer (the prefix cache's best case). A session ends after its turns, or earlier
  when the next turn would not fit the context. The session key goes out as the OpenAI
  ``user`` field and the ``x-session-id`` header.
- batch_summary: long synthetic German reports; throughput matters, not latency.

Every request is fitted to ``Limits.max_context``: the output is shortened first only when
even the smallest prompt would not fit, then the prompt is cut so prompt + output stay below
the context less a safety share (token counts are estimated from characters, see below).

Token estimate: ``chars / chars_per_token``. The default 2.7 was measured with the local
engine's tokenizer (SmolLM2, via vLLM's ``/tokenize``) on this corpus: 2.53 to 2.81 characters
per token for these German texts, not the ~4 of English text. Tokenizers with larger
vocabularies (Llama 3) need fewer tokens for the same text, so there the real prompts are
shorter than the targets; the real counts are in each run's results (``usage.prompt_tokens``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from loadtest import corpus

CHARS_PER_TOKEN = 2.7
# ChatML-style templates add a few tokens per message (SmolLM2: 16 for two one-word messages).
MESSAGE_OVERHEAD_TOKENS = 8
# Share of the context kept free because token counts are estimates (measured spread: 7 %).
CONTEXT_SAFETY = 0.08
MIN_OUTPUT_TOKENS = 16

Message = dict[str, str]


@dataclass(frozen=True)
class LogNormal:
    """Log-normal with the given median (``exp(mu)``) and sigma, rounded and clamped."""

    median: float
    sigma: float
    low: int
    high: int

    def sample(self, rng: random.Random) -> int:
        value = rng.lognormvariate(math.log(self.median), self.sigma)
        return min(max(round(value), self.low), self.high)


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    output_tokens: LogNormal
    think_s: Uniform
    # Whole prompt including the system prompt; None where it grows with a chat's history.
    prompt_tokens: LogNormal | None = None
    turns: tuple[int, int] = (1, 1)
    ttft_p95_slo_ms: float | None = None


CONTACT_CENTRE = Workload(
    name="contact_centre",
    description="contact-centre agent assist: short turns, strict latency",
    prompt_tokens=LogNormal(median=350, sigma=0.3, low=250, high=1000),
    output_tokens=LogNormal(median=120, sigma=0.5, low=16, high=400),
    think_s=Uniform(2.0, 6.0),
    ttft_p95_slo_ms=500.0,
)
CITIZEN_CHAT = Workload(
    name="citizen_chat",
    description="public-sector citizen chatbot: multi-turn German sessions",
    output_tokens=LogNormal(median=250, sigma=0.4, low=32, high=600),
    think_s=Uniform(5.0, 20.0),
    turns=(3, 8),
)
BATCH_SUMMARY = Workload(
    name="batch_summary",
    description="batch summarisation: long prompts, throughput",
    prompt_tokens=LogNormal(median=3000, sigma=0.5, low=500, high=16000),
    output_tokens=LogNormal(median=300, sigma=0.15, low=150, high=450),
    think_s=Uniform(0.0, 0.0),
)
WORKLOADS: dict[str, Workload] = {w.name: w for w in (CONTACT_CENTRE, CITIZEN_CHAT, BATCH_SUMMARY)}


@dataclass(frozen=True)
class Limits:
    max_context: int = 2048
    chars_per_token: float = CHARS_PER_TOKEN

    @property
    def usable(self) -> int:
        """Tokens prompt + output may use: the context less the safety share."""
        return int(self.max_context * (1.0 - CONTEXT_SAFETY))

    def tokens(self, text: str) -> int:
        return math.ceil(len(text) / self.chars_per_token)

    def chars(self, tokens: int) -> int:
        return max(0, int(tokens * self.chars_per_token))

    def prompt_tokens(self, messages: list[Message]) -> int:
        return sum(self.tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages)


@dataclass(frozen=True)
class ChatRequest:
    workload: str
    messages: list[Message]
    max_tokens: int
    prompt_tokens_estimate: int
    session_id: str | None = None
    turn: int = 1


def fit(prompt: int, output: int, min_prompt: int, limits: Limits) -> tuple[int, int]:
    """(prompt, output) clamped so that prompt + output <= ``limits.usable``.

    The prompt gives way first (a shorter document is still the same workload); the output
    shrinks only when even ``min_prompt`` would not leave room for it.
    """
    room = limits.usable - min_prompt
    if room < MIN_OUTPUT_TOKENS:
        raise ValueError(
            f"max context {limits.max_context} is too small: the fixed part of the prompt "
            f"alone needs about {min_prompt} tokens"
        )
    output = min(output, room)
    prompt = min(max(prompt, min_prompt), limits.usable - output)
    return prompt, output


def sample_contact_centre(rng: random.Random, limits: Limits) -> ChatRequest:
    """One agent-assist request: shared system prompt + the call transcript so far."""
    frame = "Gesprächsverlauf:\n{}\n\nSchlage die nächste Antwort des Agenten vor."
    system = corpus.CONTACT_SYSTEM_PROMPT
    return _single_turn(CONTACT_CENTRE, system, frame, corpus.dialogue, rng, limits)


def sample_batch_summary(rng: random.Random, limits: Limits) -> ChatRequest:
    """One summarisation job: a fixed instruction + a long synthetic report."""
    system = corpus.SUMMARY_SYSTEM_PROMPT
    return _single_turn(BATCH_SUMMARY, system, "Dokument:\n{}", _report, rng, limits)


def _report(rng: random.Random, chars: int) -> str:
    return corpus.synthetic_text(rng, corpus.SUMMARY_SENTENCES, chars)


def _single_turn(
    workload: Workload,
    system: str,
    frame: str,
    body_text: Callable[[random.Random, int], str],
    rng: random.Random,
    limits: Limits,
) -> ChatRequest:
    assert workload.prompt_tokens is not None, "single-turn workloads have a prompt length"
    fixed = limits.prompt_tokens(
        [{"role": "system", "content": system}, {"role": "user", "content": frame.format("")}]
    )
    output = workload.output_tokens.sample(rng)
    prompt, output = fit(workload.prompt_tokens.sample(rng), output, fixed + 16, limits)
    body = body_text(rng, limits.chars(prompt - fixed))
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": frame.format(body)},
    ]
    return ChatRequest(workload.name, messages, output, limits.prompt_tokens(messages))


class CitizenSession:
    """One citizen's conversation: ask, get the answer, ask a follow-up on the whole history.

    ``next_request()`` gives the next turn (or None when the session is over);
    ``add_reply(text)`` records the engine's answer to it, which the next turn re-sends.
    """

    def __init__(self, rng: random.Random, limits: Limits) -> None:
        self.rng = rng
        self.limits = limits
        low, high = CITIZEN_CHAT.turns
        self.turns = rng.randint(low, high)
        self.session_id = f"citizen-{rng.getrandbits(48):012x}"
        opener = corpus.citizen_opener(rng)
        self._questions = [opener, *corpus.citizen_follow_ups(rng, self.turns - 1)]
        self.history: list[Message] = [{"role": "system", "content": corpus.CITIZEN_SYSTEM_PROMPT}]
        self._pending: str | None = None

    @property
    def turns_done(self) -> int:
        return (len(self.history) - 1) // 2

    def next_request(self) -> ChatRequest | None:
        if self._pending is not None:
            raise RuntimeError("add_reply() the previous turn's answer first")
        if self.turns_done >= min(self.turns, len(self._questions)):
            return None
        question = self._questions[self.turns_done]
        messages = [*self.history, {"role": "user", "content": question}]
        prompt = self.limits.prompt_tokens(messages)
        output = min(CITIZEN_CHAT.output_tokens.sample(self.rng), self.limits.usable - prompt)
        if output < MIN_OUTPUT_TOKENS:
            return None  # the history fills the context: this citizen is done
        self._pending = question
        return ChatRequest(
            CITIZEN_CHAT.name, messages, output, prompt, self.session_id, self.turns_done + 1
        )

    def add_reply(self, text: str) -> None:
        if self._pending is None:
            raise RuntimeError("no turn is waiting for an answer")
        self.history += [
            {"role": "user", "content": self._pending},
            {"role": "assistant", "content": text},
        ]
        self._pending = None
