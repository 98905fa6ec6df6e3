"""What a routing strategy sees of each engine, and of the request it places. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.topology import Engine


class Priority(StrEnum):
    INTERACTIVE = "interactive"
    BATCH = "batch"


@dataclass(frozen=True, slots=True)
class EngineView:
    """One engine's state at decision time.

    ``running``/``waiting``/``kv_usage`` are vLLM's own gauges from the last scrape
    (``vllm:num_requests_running``, ``vllm:num_requests_waiting``, ``vllm:kv_cache_usage_perc``);
    ``inflight`` counts this replica's requests sent to the engine since that scrape (the
    scrape lags; our own sends do not). ``stale`` means the last good scrape is too old to
    trust: a strategy must not take a stale engine for an idle one.
    """

    engine: Engine
    healthy: bool = True
    running: float = 0.0
    waiting: float = 0.0
    kv_usage: float = 0.0  # 0..1
    inflight: int = 0
    stale: bool = False
    age_s: float | None = None  # seconds since the last good scrape; None: never scraped


@dataclass(frozen=True, slots=True)
class RouteContext:
    """What the strategies may know about the request (no content)."""

    tenant: str
    model: str
    session_key: str | None = None  # affinity: a header or the OpenAI `user` field
    preferred_sites: tuple[str, ...] = ()  # the tenant's site preference order
    priority: Priority = Priority.INTERACTIVE
    prompt_tokens: int = 0  # an estimate, for strategies that weigh request size
