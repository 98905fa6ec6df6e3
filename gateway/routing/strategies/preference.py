"""Site preference: the tenant's preferred sites first, each tier ranked by an inner strategy.

Views are split into tiers by ``ctx.preferred_sites`` (engines of the first preferred site,
then the second, ...; engines of any other site last), each tier is ranked by ``inner``,
and the tiers are concatenated.

Health outranks preference: every fresh healthy engine, of any tier, goes before a stale
or unhealthy engine of a preferred tier. Preference is about latency and cost between
sites that residency already allowed; sending a request to a dead or unknown engine in
the preferred site when a healthy one elsewhere could serve it turns a preference into an
outage. Within each health group the tier order and the inner order stay as they were.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.routing.strategies.base import Strategy, health
from gateway.routing.view import EngineView, RouteContext


class SitePreference:
    def __init__(self, inner: Strategy) -> None:
        self.inner = inner
        # Reported under the inner name: preference always applies, it is not a choice.
        self.name = inner.name

    def rank(self, views: Sequence[EngineView], ctx: RouteContext) -> list[EngineView]:
        if not ctx.preferred_sites:
            return self.inner.rank(views, ctx)
        tier_of = {site: i for i, site in reversed(list(enumerate(ctx.preferred_sites)))}
        others = len(ctx.preferred_sites)
        tiers: dict[int, list[EngineView]] = {}
        for view in views:
            tiers.setdefault(tier_of.get(view.engine.pool.site, others), []).append(view)
        ordered = [v for t in sorted(tiers) for v in self.inner.rank(tiers[t], ctx)]
        return sorted(ordered, key=health)  # stable: keeps tier and inner order per group
