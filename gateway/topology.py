"""Runtime view of the configuration: pools and their engines, and what a tenant is.

Built once from the settings. Everything that decides where a request may go reads these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.quota.limits import UNLIMITED, Limits
from gateway.settings import Settings
from serving.profiles import PROFILES


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    jurisdiction: str
    site: str
    gpu: str
    models: frozenset[str]
    # Sent to the engines as their bearer key; never the tenant's key, never logged.
    engine_api_key: str | None = field(default=None, repr=False)
    # What the pool is cleared for beyond ordinary personal data (a policy's `route` target).
    data_classes: frozenset[str] = frozenset()
    # Requests one engine of this pool may hold at once (its launch profile's max_num_seqs,
    # or max_concurrency); None: no cap at the gateway.
    max_concurrency: int | None = None
    strategy: str | None = None  # routing strategy for this pool; None: the default
    max_model_len: int | None = None  # configured context length; None: the engines say


@dataclass(frozen=True, slots=True)
class Engine:
    url: str  # base URL without a trailing slash, e.g. http://10.0.0.5:8000
    pool: Pool


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    allowed_jurisdictions: frozenset[str]
    allowed_models: frozenset[str] | None  # None: every model in its jurisdictions
    limits: Limits = UNLIMITED
    degraded_mode: str = "fail_closed"  # or "fail_open"; see TenantSettings
    policy: str | None = None  # None: the gateway's default policy
    preferred_sites: tuple[str, ...] = ()  # routing tries these sites first, in order
    ai_act_marker: bool = False  # answers say they are AI-generated (EU AI Act Art. 50)
    retention_days: int | None = None  # audit content and content logs; None: the default

    def may_use(self, model: str) -> bool:
        return self.allowed_models is None or model in self.allowed_models


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
            )
            pools.append(pool)
            engines.extend(Engine(str(url).rstrip("/"), pool) for url in p.engines)
        return cls(tuple(pools), tuple(engines))

    def served_models(self) -> frozenset[str]:
        return self.models
