"""Where requests may go: pools of engines, each in one jurisdiction and site."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    watermark: str = "off"  # "on", "client" or "off": gateway/upstream/watermark.py


@dataclass(frozen=True, slots=True)
class Engine:
    url: str  # base URL without a trailing slash, e.g. http://10.0.0.5:8000
    pool: Pool
