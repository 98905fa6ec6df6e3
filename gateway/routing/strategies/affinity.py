"""Session affinity: a session's turns return to the engine that holds its prefix cache.

Rendezvous (highest-random-weight) hashing: every engine gets a pseudo-random score from
a stable hash of (tenant, session key, engine URL), and the session goes to the top one.
Adding or removing an engine moves only the sessions that rank it first (~1/N of them);
the rest keep their engine and its cache. Scores are weighted by GPU capacity (-w / ln u,
Schindelhauer and Schomaker's weighted rendezvous), so a B200 engine draws twice the
sessions of an RTX Pro 6000 one, in step with least load.

Bounded load (Mirrokni, Thorup and Zadimoghaddam, "Consistent Hashing with Bounded Loads",
2018): an engine is eligible only while its load <= ceil(load_factor x its fair share of
the total load plus this request), its share being its capacity weight over the total.
A hot session key (or many sessions hashing alike) then spills over to its next engine in
hash order instead of piling up; with load_factor 1.25 no engine carries more than 25 %
above its share. Below the bound, affinity beats balance: a prefix-cache hit saves the
whole prefill of the conversation so far.

The tenant is hashed with the key: the OpenAI ``user`` field of two tenants may well be the
same string ("default"), and their sessions have no cache to share.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

from gateway.routing.strategies.base import Strategy, health, usable
from gateway.routing.strategies.least_load import (
    DEFAULT_GPU_WEIGHTS,
    LeastLoad,
    capacity_weight,
)
from gateway.routing.view import EngineView, RouteContext

_TWO_64 = float(2**64)


def hrw_score(tenant: str, key: str, url: str, weight: float = 1.0) -> float:
    """Weighted rendezvous score; stable across processes (Python's hash() is salted)."""
    data = b"\0".join((tenant.encode(), key.encode(), url.encode()))
    digest = hashlib.blake2b(data, digest_size=8).digest()
    unit = (int.from_bytes(digest, "big") + 0.5) / _TWO_64  # uniform in (0, 1)
    return -weight / math.log(unit)


def _load(view: EngineView) -> float:
    return view.running + view.waiting + view.inflight


class SessionAffinity:
    name = "affinity"

    def __init__(
        self,
        load_factor: float = 1.25,
        fallback: Strategy | None = None,
        *,
        gpu_weights: Mapping[str, float] | None = None,
    ) -> None:
        if load_factor < 1.0:
            raise ValueError("load_factor must be >= 1 (1 is perfect balance, no affinity)")
        self._load_factor = load_factor
        self._weights = DEFAULT_GPU_WEIGHTS if gpu_weights is None else dict(gpu_weights)
        self._fallback = fallback if fallback is not None else LeastLoad(self._weights)

    def rank(self, views: Sequence[EngineView], ctx: RouteContext) -> list[EngineView]:
        if not ctx.session_key:
            return self._fallback.rank(views, ctx)
        key = ctx.session_key
        weights = {v.engine.url: capacity_weight(v, self._weights) for v in views}
        score = {
            v.engine.url: hrw_score(ctx.tenant, key, v.engine.url, weights[v.engine.url])
            for v in views
        }
        # Fair shares over the engines that can take the request; stale loads are unknown.
        live = [v for v in views if usable(v)]
        total_load = sum(_load(v) for v in live) + 1  # + this request, as in the paper
        total_weight = sum(weights[v.engine.url] for v in live) or 1.0

        def over_bound(view: EngineView) -> bool:
            if not usable(view):
                return False  # ranked by health first; within stale, hash order alone
            share = weights[view.engine.url] / total_weight * total_load
            return _load(view) > math.ceil(self._load_factor * share)

        # Walk the hash order: eligible fresh engines, then overloaded fresh ones, then stale,
        # then unhealthy. Failover also follows hash order, so a session's second engine is
        # as stable as its first and warms its cache too.
        return sorted(
            views,
            key=lambda v: (health(v), over_bound(v), -score[v.engine.url], v.engine.url),
        )
