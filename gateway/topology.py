"""Runtime view of the configuration: the pools and their engines, built once from the
settings. Everything that decides where a request may go reads it. (The value types, Pool,
Engine and Tenant, live in ``gateway.core``; they are re-exported here for their readers.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.core.tenant import Tenant
from gateway.core.topology import Engine, Pool
from gateway.settings import Settings
from serving.profiles import PROFILES


@dataclass(frozen=True, slots=True)
class Topology:
    pools: tuple[Pool, ...]
    engines: tuple[Engine, ...]
    # Derived once: residency reads it on every request.
    models: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", frozenset(m for p in self.pools for m in p.models))

    @classmethod
    def from_settings(cls, settings: Settings) -> Topology:
        pools: list[Pool] = []
        engines: list[Engine] = []
        for p in settings.pools:
            key = p.api_key.get_secret_value() if p.api_key else None
            pool = Pool(
                p.name,
                p.jurisdiction,
                p.site,
                p.gpu,
                frozenset(p.models),
                key,
                frozenset(p.data_classes),
                p.max_concurrency or (PROFILES[p.profile].max_num_seqs if p.profile else None),
                p.strategy,
                p.max_model_len,
                p.watermark,
            )
            pools.append(pool)
            engines.extend(Engine(str(url).rstrip("/"), pool) for url in p.engines)
        return cls(tuple(pools), tuple(engines))

    def served_models(self) -> frozenset[str]:
        return self.models


__all__ = ["Engine", "Pool", "Tenant", "Topology"]
