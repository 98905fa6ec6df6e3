"""Least load: the engine with the least work per unit of capacity, KV cache permitting.

score = (running + WAITING_WEIGHT x waiting + inflight) / capacity weight of the GPU class
        + KV_PENALTY x pressure(kv_usage)

- Waiting counts double: a queued request holds no slot yet, but it says the engine is
  saturated, and every request sent there queues behind it.
- ``inflight`` is what this replica sent since the last scrape (the scrape lags; our own
  sends do not), so a burst does not all land on the engine that looked idle 500 ms ago.
- KV pressure is zero up to 80 % and grows quadratically to 1 at 100 %. Below that, usage
  is harmless (and mostly tracks ``running``, already counted); near full, vLLM can admit
  nothing and starts preempting running sequences. KV_PENALTY = 256 makes a full cache
  weigh what a full slot table does (``max_num_seqs`` 256 per unit of capacity in the
  serving profiles): 16 at 85 %, 64 at 90 %, 144 at 95 %.

Stale or unhealthy engines rank after every fresh healthy one (their numbers are unknown,
never zero), ordered among themselves by our own in-flight count. Equal scores take turns:
ties go by URL, rotated one step per call, so equal engines share the load.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gateway.routing.strategies.base import Health, Rotation, health
from gateway.routing.view import EngineView, RouteContext

# Capacity per engine, relative to an RTX Pro 6000 engine, from the throughput figures in
# serving/perfmodel.py (per engine, as the profiles deploy them):
# - h100: 1.3. Llama-3.3-70B 4,400 vs 3,400 tokens/s (both TP=2), and 8B 10,100 vs 7,800:
#   1.29 either way.
# - b200: 2.0. Llama-3.3-70B 7,400 (one GPU) vs 3,400: 2.2 measured (MLPerf); the 8B ratio
#   of 4.1 is itself scaled from the 70B figures, not measured. Rounded down: an overweight
#   class is sent more than it drains and its queue shows only a scrape later, while an
#   underweight one only leaves headroom that the waiting term hands back. It is also the
#   ratio of the profiles' slot counts (max_num_seqs 512 vs 256, 256 vs 128).
# - cpu: 1.0. CPU engines serve development and CI, never beside GPU pools for one model.
# - any other class: 1.0, i.e. plain least-requests.
DEFAULT_GPU_WEIGHTS: Mapping[str, float] = {
    "b200": 2.0,
    "h100": 1.3,
    "rtx-pro-6000": 1.0,
    "cpu": 1.0,
}
UNKNOWN_GPU_WEIGHT = 1.0

WAITING_WEIGHT = 2.0
KV_KNEE = 0.8
KV_PENALTY = 256.0


def capacity_weight(view: EngineView, weights: Mapping[str, float]) -> float:
    return weights.get(view.engine.pool.gpu, UNKNOWN_GPU_WEIGHT)


def kv_pressure(kv_usage: float) -> float:
    """0 up to the knee, then quadratic to 1 at a full cache."""
    over = max(0.0, min(kv_usage, 1.0) - KV_KNEE) / (1.0 - KV_KNEE)
    return over * over


class LeastLoad:
    name = "least_load"

    def __init__(self, gpu_weights: Mapping[str, float] | None = None) -> None:
        self._weights = DEFAULT_GPU_WEIGHTS if gpu_weights is None else dict(gpu_weights)
        if any(w <= 0 for w in self._weights.values()):
            raise ValueError("GPU capacity weights must be positive")
        self._rotation = Rotation()

    def score(self, view: EngineView) -> float:
        """Lower is better; comparable only between views of the same health."""
        weight = capacity_weight(view, self._weights)
        if health(view) is not Health.FRESH:
            return view.inflight / weight  # the gauges are not trusted; our own sends are
        load = view.running + WAITING_WEIGHT * view.waiting + view.inflight
        return load / weight + KV_PENALTY * kv_pressure(view.kv_usage)

    def rank(self, views: Sequence[EngineView], ctx: RouteContext) -> list[EngineView]:
        if not views:
            return []
        urls = tuple(sorted(v.engine.url for v in views))
        offset = self._rotation.next(urls)
        position = {url: (i - offset) % len(urls) for i, url in enumerate(urls)}
        return sorted(views, key=lambda v: (health(v), self.score(v), position[v.engine.url]))
