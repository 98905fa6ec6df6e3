"""Capacity planner: how many GPUs serve N concurrent users at an SLO, and the reverse.

Analytic and pure: it solves the same continuous-batching model the simulator plays out
(serving/perfmodel.py) for a closed population of users, each looping *request -> stream the
answer -> think -> next request*.

For ``N`` users on one engine, with mean prompt ``P`` (of which ``P_u`` not in the prefix
cache), mean output ``O`` and think time ``Z``, find the decode step time ``s``:

- a request spends ``T = ttft + O x s`` in the engine, ``ttft = P_u / prefill_rate + s``;
- request rate ``X = N / (Z + W + T)`` (``W`` is queueing, zero until the engine is full);
- decoding sequences ``b = X x O x s`` (Little's law), capped by ``max_num_seqs`` and by the
  KV cache (each sequence holds ``P + O/2`` tokens on average); past the cap the engine is
  saturated: ``X = cap / (O x s)`` and the other users queue (``W > 0``);
- prefill steals a share ``X x P_u / prefill_rate`` of the GPU from decoding, so
  ``s = (decode_base + per_seq x b) / (1 - prefill share)``, but never more than one full
  step budget of prefill (``max_num_batched_tokens`` minus the decode tokens) per step, which
  also caps the request rate the engine can admit (prefill-bound saturation).

The fixed point is found by damped iteration. TTFT p95 adds the p95 prompt's prefill, one
step of scheduling delay, waiting behind other prefills in the step budget, and (when
saturated) three times the mean queueing delay (exponential tail).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from serving.perfmodel import EnginePerf


@dataclass(frozen=True)
class Workload:
    name: str
    prompt_tokens: float  # mean tokens sent per request (history included)
    output_tokens: float  # mean tokens generated per request
    think_s: float  # mean time a user reads/thinks between requests
    cached_fraction: float = 0.0  # share of prompt tokens found in the prefix cache
    prompt_p95_tokens: float | None = None  # defaults to 1.6 x the mean (lognormal-ish)

    @property
    def prompt_p95(self) -> float:
        return self.prompt_p95_tokens or 1.6 * self.prompt_tokens


# The three workloads of loadtest/workloads.py, as means of its distributions (a log-normal
# with median m and shape s has mean m x exp(s^2 / 2)); tests/unit/test_planner.py checks them
# against samples. Cached shares: contact-centre's shared system prompt (~170 of ~366 tokens);
# citizen-chat re-sends the previous turns (about 60 % of a mid-session prompt).
CONTACT_CENTRE = Workload("contact-centre", 366, 136, 4.0, cached_fraction=0.46)
CITIZEN_CHAT = Workload("citizen-chat", 900, 270, 12.5, cached_fraction=0.6)
BATCH_SUMMARY = Workload("batch-summary", 3380, 303, 0.0, cached_fraction=0.0)
WORKLOADS = {w.name: w for w in (CONTACT_CENTRE, CITIZEN_CHAT, BATCH_SUMMARY)}


def mix(parts: dict[Workload, float], name: str = "mix") -> Workload:
    """One workload with the request-weighted means of several (weights need not sum to 1)."""
    total = sum(parts.values())
    if total <= 0:
        raise ValueError("a mix needs a positive weight")

    def mean(field: str) -> float:
        return float(sum(getattr(w, field) * share for w, share in parts.items()) / total)

    uncached = sum(w.prompt_tokens * (1 - w.cached_fraction) * s for w, s in parts.items())
    prompt = mean("prompt_tokens")
    return Workload(
        name,
        prompt,
        mean("output_tokens"),
        mean("think_s"),
        cached_fraction=1 - uncached / total / prompt,
        prompt_p95_tokens=max(w.prompt_p95 for w in parts),
    )


@dataclass(frozen=True)
class Slo:
    ttft_p95_s: float = 1.0
    tokens_per_s_per_user: float = 20.0


@dataclass(frozen=True)
class OperatingPoint:
    users: int
    batch: float  # mean decoding sequences
    step_s: float  # decode step = time per output token for each user (TPOT)
    ttft_mean_s: float
    ttft_p95_s: float
    requests_per_s: float
    output_tokens_per_s: float
    queue_wait_s: float
    limit: str  # what bounds the batch: "users", "max_num_seqs", "kv_cache", "prefill"

    @property
    def tokens_per_s_per_user(self) -> float:
        return 1.0 / self.step_s

    def meets(self, slo: Slo) -> bool:
        return (
            self.ttft_p95_s <= slo.ttft_p95_s
            and self.tokens_per_s_per_user >= slo.tokens_per_s_per_user
        )


def operating_point(perf: EnginePerf, work: Workload, users: int) -> OperatingPoint:
    prompt_uncached = max(1.0, work.prompt_tokens * (1 - work.cached_fraction))
    prefill_s = prompt_uncached / perf.prefill_tokens_per_s
    kv_cap = int(perf.kv_capacity_tokens // (work.prompt_tokens + work.output_tokens / 2))
    cap = max(1, min(perf.max_num_seqs, kv_cap))
    step = perf.step_seconds(min(users, cap), 0)
    batch, rate, limit = 0.0, 0.0, "users"
    for _ in range(500):
        in_engine = prefill_s + step + work.output_tokens * step
        offered = users / (work.think_s + in_engine)
        # What the engine can absorb: decode slots (max_num_seqs, KV) and the prefill tokens
        # the per-step budget leaves after the decode tokens (chunked prefill).
        by_slots = cap / (work.output_tokens * step)
        budget_left = max(
            1.0, perf.max_num_batched_tokens - min(offered * work.output_tokens * step, cap)
        )
        by_prefill = budget_left / step / prompt_uncached
        rate = min(offered, by_slots, by_prefill)
        limit = _limit(rate, offered, by_slots, by_prefill, cap, perf.max_num_seqs)
        batch = rate * work.output_tokens * step
        share = min(rate * prefill_s, 0.99)
        decode = perf.step_seconds(round(batch), 0)
        new_step = min(decode / (1 - share), decode + budget_left / perf.prefill_tokens_per_s)
        if abs(new_step - step) < 1e-9:
            break
        step = 0.7 * step + 0.3 * new_step
    in_engine = prefill_s + step + work.output_tokens * step
    wait = max(0.0, users / rate - work.think_s - in_engine)
    p95_prefill = work.prompt_p95 * (1 - work.cached_fraction) / perf.prefill_tokens_per_s
    share = min(rate * prefill_s, 0.99)
    behind_others = share / (1 - share) * prefill_s
    return OperatingPoint(
        users=users,
        batch=batch,
        step_s=step,
        ttft_mean_s=prefill_s + step + wait,
        ttft_p95_s=p95_prefill + 2 * step + behind_others + 3 * wait,
        requests_per_s=rate,
        output_tokens_per_s=rate * work.output_tokens,
        queue_wait_s=wait,
        limit=limit,
    )


def _limit(
    rate: float, offered: float, by_slots: float, by_prefill: float, cap: int, max_seqs: int
) -> str:
    if rate >= offered:
        return "users"
    if by_prefill <= by_slots:
        return "prefill"
    return "max_num_seqs" if cap == max_seqs else "kv_cache"


def max_users(perf: EnginePerf, work: Workload, slo: Slo, ceiling: int = 1_000_000) -> int:
    """Most users one engine serves within the SLO (0 if even one user misses it)."""
    if not operating_point(perf, work, 1).meets(slo):
        return 0
    low, high = 1, 2
    while high < ceiling and operating_point(perf, work, high).meets(slo):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if operating_point(perf, work, middle).meets(slo):
            low = middle
        else:
            high = middle
    return low


@dataclass(frozen=True)
class Plan:
    perf_key: str
    users: int
    users_per_engine: int
    engines: int
    gpus: int
    at_capacity: OperatingPoint | None


def gpus_for_users(perf: EnginePerf, work: Workload, slo: Slo, users: int) -> Plan:
    per_engine = max_users(perf, work, slo)
    if per_engine == 0:
        return Plan(perf.key, users, 0, 0, 0, None)
    engines = math.ceil(users / per_engine)
    point = operating_point(perf, work, per_engine)
    return Plan(perf.key, users, per_engine, engines, engines * max(1, perf.gpus), point)


def users_for_gpus(perf: EnginePerf, work: Workload, slo: Slo, gpus: int) -> Plan:
    engines = gpus // max(1, perf.gpus)
    per_engine = max_users(perf, work, slo)
    point = operating_point(perf, work, per_engine) if per_engine else None
    return Plan(perf.key, engines * per_engine, per_engine, engines, gpus, point)


def streaming_only(work: Workload) -> Workload:
    """The same workload with no think time: every user is generating all the time."""
    return replace(work, think_s=0.0, name=work.name + " (always streaming)")
