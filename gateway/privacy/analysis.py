"""The analyzer, run off the event loop, with a deadline per request.

Presidio's analysis is synchronous, CPU-bound and holds the GIL: on the event loop it would
stall every other request. It runs in a small thread pool instead; all texts of one request
go in one hop. A failure or a missed deadline becomes ``PolicyUnavailable``; whether the
request then fails closed or passes flagged is the policy's choice (``analyzer.on_error``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from gateway.errors import PolicyUnavailable
from policies.model import Policy
from policies.spans import Span


class TextAnalyzer(Protocol):
    def analyze(self, text: str, entities: Collection[str] | None = None) -> list[Span]: ...


class AnalysisService:
    def __init__(self, analyzer: TextAnalyzer, threads: int) -> None:
        self._analyzer = analyzer
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="pii-analysis")

    def _run(self, texts: Sequence[str], entities: frozenset[str]) -> list[list[Span]]:
        return [self._analyzer.analyze(text, entities) if text else [] for text in texts]

    async def analyze(
        self, texts: Sequence[str], policy: Policy, entities: frozenset[str] | None = None
    ) -> list[list[Span]]:
        """Spans per text for the entity types the policy acts on (or ``entities``), above
        its threshold."""
        entities = policy.detected if entities is None else entities
        timeout_s = policy.analyzer.timeout_ms / 1000
        min_score = policy.analyzer.score_threshold
        if not any(texts):
            return [[] for _ in texts]
        loop = asyncio.get_running_loop()
        try:
            found = await asyncio.wait_for(
                loop.run_in_executor(self._pool, self._run, texts, entities), timeout_s
            )
        except TimeoutError as exc:
            raise PolicyUnavailable(
                "The privacy analysis did not finish in time; the request was not sent."
            ) from exc
        except Exception as exc:
            raise PolicyUnavailable(
                "The privacy analysis failed; the request was not sent."
            ) from exc
        return [[s for s in spans if s.score >= min_score] for spans in found]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
