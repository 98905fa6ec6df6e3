"""Strategies by name, as configured: each wrapped in the tenant's site preference."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.routing.strategies.affinity import SessionAffinity
from gateway.routing.strategies.base import Strategy
from gateway.routing.strategies.least_load import LeastLoad
from gateway.routing.strategies.preference import SitePreference
from gateway.routing.strategies.round_robin import RoundRobin

STRATEGIES: tuple[str, ...] = ("round_robin", "least_load", "affinity")


def build_strategy(
    name: str,
    *,
    gpu_weights: Mapping[str, float] | None = None,
    affinity_load_factor: float = 1.25,
) -> Strategy:
    """A fresh strategy (its own rotation counters) for ``name``; ValueError if unknown."""
    inner: Strategy
    if name == "round_robin":
        inner = RoundRobin()
    elif name == "least_load":
        inner = LeastLoad(gpu_weights)
    elif name == "affinity":
        inner = SessionAffinity(
            affinity_load_factor, LeastLoad(gpu_weights), gpu_weights=gpu_weights
        )
    else:
        raise ValueError(f"unknown routing strategy {name!r}; known: {', '.join(STRATEGIES)}")
    return SitePreference(inner)
