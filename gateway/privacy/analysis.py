"""The analyzer, run off the event loop, shared fairly between tenants, with per-request
limits and a deadline per request.

Presidio's analysis is synchronous, CPU-bound and holds the GIL: on the event loop it would
stall every other request. It runs on a few threads instead, which tenants share fairly
(``fair.py``): a request's texts are cut into **units** of about one analyzer chunk
(``UNIT_CHARS``), so another tenant's request waits at most for the units already running.
Short texts travel together (a one-line request is one unit: one thread hop); a long text is
cut into pieces the way ``policies.analyzer`` cuts it into chunks (overlapping, each piece
keeping the spans that start in the part it owns), with the entity types it analyses over
the whole text (``WHOLE_TEXT``: a private key is longer than any overlap) in a piece of
their own. Spans are the analyzer's, piece by piece.

A request (prompt direction) with more text than ``AnalysisLimits`` allow is refused before
any of this (``check_request``); answers are not refused that way, but share the threads under
the same rules. A failure or a missed deadline becomes ``PolicyUnavailable``; whether the
request then fails closed or passes flagged is the policy's choice (``analyzer.on_error``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from gateway.errors import AnalysisLimitExceeded, PolicyUnavailable
from gateway.privacy.fair import FairScheduler, FifoScheduler, Scheduler, Unit
from policies import entities as e
from policies.model import Policy
from policies.spans import Span

# A unit's target cost, in characters: one chunk of policies.analyzer (CHUNK_SIZE), 1 to 5 ms
# of analysis. Pieces of long texts overlap by CHUNK_OVERLAP, as its chunks do, and own the
# spans starting between the midpoints of their overlaps (tests check the constants agree).
UNIT_CHARS = 4_000
OVERLAP = 256
# What a text costs beyond its characters: the analyzer's fixed cost per call (~60 us, about
# 200 characters of prose), so that 4,000 one-word texts are not scheduled as 4,000 characters.
ITEM_COST = 200
# Analysed over the whole text, never in pieces (policies.analyzer.WHOLE_TEXT_ENTITIES).
WHOLE_TEXT = frozenset({e.SECRET})
_FIELDS = {"/v1/chat/completions": "messages", "/v1/completions": "prompt"}


class TextAnalyzer(Protocol):
    def analyze(self, text: str, entities: Collection[str] | None = None) -> list[Span]: ...


@dataclass(frozen=True, slots=True)
class Piece:
    """``text[start:end]`` of the long text ``index``, for ``entities``; the spans starting in
    ``[own_start, own_end)`` are kept."""

    index: int
    start: int
    end: int
    own_start: int
    own_end: int
    entities: frozenset[str]

    @property
    def cost(self) -> int:
        return self.end - self.start + ITEM_COST


@dataclass(frozen=True, slots=True)
class Batch:
    """Short texts, whole, by index: one unit for all of them (a one-line request: one)."""

    indices: list[int]
    cost: int


Work = Batch | Piece


@dataclass(frozen=True, slots=True)
class AnalysisLimits:
    """The most text one request may give the analysis (``privacy.max_analysed_*``)."""

    max_chars: int
    max_items: int

    def check(self, texts: Sequence[str], path: str) -> None:
        field = _FIELDS.get(path, "input")
        if len(texts) > self.max_items:
            raise AnalysisLimitExceeded(
                f"This request has {len(texts):,} texts for the privacy analysis (message "
                "contents and text parts, tool-call arguments, prompts or inputs); it analyses "
                f"at most {self.max_items:,} texts per request. Send fewer in each request.",
                param=field,
            )
        chars = sum(map(len, texts))
        if chars > self.max_chars:
            raise AnalysisLimitExceeded(
                f"This request has {chars:,} characters of text for the privacy analysis; it "
                f"analyses at most {self.max_chars:,} characters per request. Shorten the "
                "request or split it into several.",
                param=field,
            )


def pieces_of(index: int, text: str, wanted: frozenset[str]) -> list[Piece]:
    """A text longer than a unit as overlapping pieces, plus one over the whole text for the
    ``WHOLE_TEXT`` types. Cuts fall at fixed places: cheap enough for the event loop, and
    exact, since a span is only kept by the piece that owns its start, which has at least
    ``OVERLAP / 2`` characters of context on each side of it."""
    size = len(text)
    half, step = OVERLAP // 2, UNIT_CHARS - OVERLAP
    chunked = wanted - WHOLE_TEXT
    out = [Piece(index, 0, size, 0, size, wanted & WHOLE_TEXT)] if wanted & WHOLE_TEXT else []
    if not chunked:
        return out
    start = 0
    while True:
        last = start + UNIT_CHARS >= size
        end = size if last else start + UNIT_CHARS
        own_start = 0 if start == 0 else start + half
        out.append(Piece(index, start, end, own_start, size if last else end - half, chunked))
        if last:
            return out
        start += step


def plan(texts: Sequence[str], wanted: frozenset[str]) -> list[Work]:
    """The units of work: consecutive short texts batched up to ``UNIT_CHARS``, each piece of
    a long text alone. Empty texts have nothing to analyse."""
    units: list[Work] = []
    batch: list[int] = []
    cost = 0
    for index, text in enumerate(texts):
        size = len(text)
        if size > UNIT_CHARS:
            units += pieces_of(index, text, wanted)
        elif size:
            batch.append(index)
            cost += size + ITEM_COST
            if cost >= UNIT_CHARS:
                units.append(Batch(batch, cost))
                batch, cost = [], 0
    if batch:
        units.append(Batch(batch, cost))
    return units


class AnalysisService:
    def __init__(
        self,
        analyzer: TextAnalyzer,
        threads: int,
        *,
        limits: AnalysisLimits | None = None,
        scheduling: Literal["fair", "fifo"] = "fair",
        inline_chars: int = 0,
    ) -> None:
        self._analyzer = analyzer
        self.limits = limits
        # Texts this short are analysed on the event loop (see ``analyze``).
        self._inline_chars = inline_chars
        self._scheduler: Scheduler = (
            FairScheduler(threads) if scheduling == "fair" else FifoScheduler(threads)
        )

    def check_request(self, texts: Sequence[str], path: str) -> None:
        """Refuses (``AnalysisLimitExceeded``, 400) a request with more text than the limits
        allow; call it before any analysis, admission or charge."""
        if self.limits is not None:
            self.limits.check(texts, path)

    async def analyze(
        self,
        texts: Sequence[str],
        policy: Policy,
        entities: frozenset[str] | None = None,
        *,
        tenant: str,
    ) -> list[list[Span]]:
        """Spans per text for the entity types the policy acts on (or ``entities``), above
        its threshold; ``tenant``'s share of the threads does the work."""
        wanted = policy.detected if entities is None else entities
        timeout_s = policy.analyzer.timeout_ms / 1000
        min_score = policy.analyzer.score_threshold
        if sum(map(len, texts)) <= self._inline_chars:
            # A one-line request: its analysis (~40-250 us) costs less than the thread hop
            # it would take (a wake-up, a handover of the GIL, a call back to the loop), and
            # holds the loop no longer than a fraction of a millisecond.
            try:
                found = [self._analyzer.analyze(t, wanted) if t else [] for t in texts]
            except Exception as exc:
                raise PolicyUnavailable(
                    "The privacy analysis failed; the request was not sent."
                ) from exc
            return [[sp for sp in spans if sp.score >= min_score] for spans in found]
        units = plan(texts, wanted)
        if not units:
            return [[] for _ in texts]

        def work(unit: Work) -> Unit[list[list[Span]]]:
            def run() -> list[list[Span]]:
                analyzer = self._analyzer  # read when it runs (tests swap it)
                if isinstance(unit, Batch):
                    return [analyzer.analyze(texts[i], wanted) for i in unit.indices]
                return [analyzer.analyze(texts[unit.index][unit.start : unit.end], unit.entities)]

            return Unit(unit.cost, run)

        def finish(results: list[list[list[Span]]]) -> list[list[Span]]:
            return _assemble(texts, units, results, min_score)

        try:
            async with asyncio.timeout(timeout_s):
                return await self._scheduler.run(tenant, [work(u) for u in units], finish)
        except TimeoutError as exc:
            raise PolicyUnavailable(
                "The privacy analysis did not finish in time; the request was not sent."
            ) from exc
        except Exception as exc:
            raise PolicyUnavailable(
                "The privacy analysis failed; the request was not sent."
            ) from exc

    def close(self) -> None:
        self._scheduler.close()


def _assemble(
    texts: Sequence[str],
    units: Sequence[Work],
    results: Sequence[Sequence[list[Span]]],
    min_score: float,
) -> list[list[Span]]:
    """Spans per text from its units' spans (runs on an analysis thread, not the loop)."""
    found: list[list[Span]] = [[] for _ in texts]
    cut: set[int] = set()
    for unit, spans_of in zip(units, results, strict=True):
        if isinstance(unit, Batch):
            for index, spans in zip(unit.indices, spans_of, strict=True):
                found[index] = spans
            continue
        (spans,) = spans_of
        at = unit.start
        cut.add(unit.index)
        found[unit.index].extend(
            Span(s.start + at, s.end + at, s.entity, s.score)
            for s in spans
            if unit.own_start <= s.start + at < unit.own_end
        )
    if cut:
        # Presidio is loaded by now (build_privacy did it); not imported with the gateway.
        from policies.analyzer import resolve_overlaps

        for index in cut:
            found[index] = resolve_overlaps(found[index])
    return [[s for s in spans if s.score >= min_score] for spans in found]
