"""Engine reachability for ``/readyz``: concurrent ``GET /health`` probes, cached briefly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from gateway.topology import Engine


@dataclass(frozen=True, slots=True)
class Readiness:
    engines_up: int
    engines_total: int

    @property
    def ready(self) -> bool:
        return self.engines_up > 0


class EngineHealth:
    def __init__(
        self,
        client: httpx.AsyncClient,
        engines: tuple[Engine, ...],
        timeout: float,
        cache_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._engines = engines
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._last: tuple[float, Readiness] | None = None
        self._lock = asyncio.Lock()

    async def readiness(self) -> Readiness:
        async with self._lock:  # one probe round at a time, however many callers
            now = self._clock()
            if self._last is not None and now - self._last[0] < self._cache_seconds:
                return self._last[1]
            results = await asyncio.gather(*(self._probe(e) for e in self._engines))
            readiness = Readiness(sum(results), len(self._engines))
            self._last = (self._clock(), readiness)
            return readiness

    async def _probe(self, engine: Engine) -> bool:
        try:
            key = engine.pool.engine_api_key
            headers = {"authorization": "Bearer " + key} if key else {}
            response = await self._client.get(
                engine.url + "/health", headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200
