"""The analysis service's side of fairness: work cut into bounded units with the analyzer's
own results, per-request limits, per-request deadlines."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator, Collection
from typing import Any

import pytest

from gateway.errors import AnalysisLimitExceeded, PolicyUnavailable
from gateway.privacy import analysis as a
from gateway.privacy.analysis import AnalysisLimits, AnalysisService, Batch, Piece, plan
from policies import analyzer as real
from policies.model import AnalyzerOptions, Policy, load_preset
from policies.spans import Span

GDPR = load_preset("gdpr-default")
PERSONAL = (
    "Kundin Annette Brandmeier (Tel. 0171 2345678, a.brandmeier@example.de) bittet um "
    "Änderung ihrer Bankverbindung auf die IBAN DE89 3704 0044 0532 0130 00 und nennt ihre "
    "Steuer-ID 86095742719. "
)
FILLER = "Die Lieferung kommt am Montag an und wird im Lager geprüft. "
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "\n".join(
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun" for _ in range(40)
    )
    + "\n-----END RSA PRIVATE KEY-----"
)


def test_the_units_follow_the_analyzers_chunks() -> None:
    assert a.UNIT_CHARS == real.CHUNK_SIZE
    assert a.OVERLAP == real.CHUNK_OVERLAP
    assert a.WHOLE_TEXT == real.WHOLE_TEXT_ENTITIES


def test_a_one_line_request_is_one_unit_and_empty_texts_none() -> None:
    assert plan(["Hallo", ""], GDPR.detected) == [Batch([0], 5 + a.ITEM_COST)]
    assert plan(["", ""], GDPR.detected) == []


def test_many_short_texts_travel_together_up_to_a_unit() -> None:
    units = plan(["kurz"] * 1_000, GDPR.detected)
    per_unit = a.UNIT_CHARS // (len("kurz") + a.ITEM_COST) + 1
    batches = [u for u in units if isinstance(u, Batch)]
    assert len(batches) == len(units)
    assert [len(b.indices) for b in batches[:-1]] == [per_unit] * (len(units) - 1)
    assert [i for b in batches for i in b.indices] == list(range(1_000))


def test_long_texts_are_pieces_of_their_own_among_batches() -> None:
    units = plan(["kurz", "x" * 10_000, "", "auch kurz"], GDPR.detected)
    assert [type(u).__name__ for u in units] == ["Piece"] * 4 + ["Batch"]
    assert units[-1] == Batch([0, 3], 4 + 9 + 2 * a.ITEM_COST)
    assert {u.index for u in units if isinstance(u, Piece)} == {1}


@pytest.mark.parametrize("size", [4_001, 7_744, 7_745, 50_000])
def test_the_pieces_of_a_long_text_own_every_position_once(size: int) -> None:
    pieces = a.pieces_of(0, "x" * size, GDPR.detected)
    whole, *chunks = pieces
    assert whole == Piece(0, 0, size, 0, size, a.WHOLE_TEXT)  # SECRET over the whole text
    assert chunks[0].own_start == 0
    assert chunks[-1].own_end == size
    for left, right in itertools.pairwise(chunks):
        assert left.own_end == right.own_start
        assert right.start < left.end
    for piece in chunks:
        assert piece.end - piece.start <= a.UNIT_CHARS
        assert piece.entities == GDPR.detected - a.WHOLE_TEXT
        # An entity up to OVERLAP / 2 long starting in the owned part lies inside the piece,
        # with context on both sides.
        assert piece.own_start - piece.start >= (0 if piece.start == 0 else a.OVERLAP // 2)
        assert piece.end - piece.own_end >= (0 if piece.end == size else a.OVERLAP // 2)


@pytest.fixture(scope="module")
def analyzer() -> real.Analyzer:
    return real.build_analyzer(ner=False)


@pytest.fixture
async def service(analyzer: real.Analyzer) -> AsyncIterator[AnalysisService]:
    service = AnalysisService(analyzer, 2)
    yield service
    service.close()


async def test_long_texts_cut_into_units_give_the_analyzers_own_spans(
    analyzer: real.Analyzer, service: AnalysisService
) -> None:
    text = ""
    while len(text) < 30_000:  # entities fall across every cut, in every phase
        text += FILLER[: len(text) % 37] + PERSONAL
    text = text[:15_000] + PEM + text[15_000:]  # a key longer than any overlap
    expected = [s for s in analyzer.analyze(text, GDPR.detected) if s.score >= 0.5]
    assert len(a.plan([text], GDPR.detected)) > 8
    (found,) = await service.analyze([text], GDPR, tenant="t")
    assert found == expected
    assert any(s.entity == "SECRET" and s.text_of(text) == PEM for s in found)
    # The same next to short texts, batched into units of their own.
    found_all = await service.analyze(["Hallo", text, PERSONAL], GDPR, tenant="t")
    assert found_all[1] == expected
    assert found_all[2] == [s for s in analyzer.analyze(PERSONAL, GDPR.detected) if s.score >= 0.5]


class Gated:
    """Blocks on texts with "slow" until ``gate`` opens; records what it analysed."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.seen: list[str] = []

    def analyze(self, text: str, entities: Collection[str] | None = None) -> list[Span]:
        self.seen.append(text)
        if "slow" in text:
            self.gate.wait(10)
        return [Span(0, 1, "PERSON", 0.9)]


async def test_deadlines_are_per_request_and_drop_the_requests_queued_work() -> None:
    fake = Gated()
    service = AnalysisService(fake, 1)
    hasty = Policy(id="hasty", analyzer=AnalyzerOptions(timeout_ms=50))
    try:
        text = "slow " + "x" * 10_000  # a whole-text unit (blocked), then chunks (queued)
        slow = asyncio.create_task(service.analyze([text], hasty, tenant="a"))
        await asyncio.sleep(0)
        with pytest.raises(PolicyUnavailable, match="did not finish in time"):
            await slow
        scheduler: Any = service._scheduler
        assert scheduler.queued("a") == 0  # the rest of its text was never analysed
        patient = asyncio.create_task(service.analyze(["Hallo"], GDPR, tenant="b"))
        await asyncio.sleep(0)
        fake.gate.set()  # the slow unit in progress ends; b's own deadline never passed
        assert await patient == [[Span(0, 1, "PERSON", 0.9)]]
        assert fake.seen == [text, "Hallo"]
    finally:
        fake.gate.set()
        service.close()


async def test_a_failing_analyzer_is_policy_unavailable() -> None:
    class Failing:
        def analyze(self, text: str, entities: Collection[str] | None = None) -> list[Span]:
            raise RuntimeError("crashed")

    service = AnalysisService(Failing(), 1, scheduling="fifo")
    try:
        with pytest.raises(PolicyUnavailable, match="failed"):
            await service.analyze(["Hallo"], GDPR, tenant="a")
    finally:
        service.close()


@pytest.mark.parametrize(
    ("path", "param"),
    [("/v1/chat/completions", "messages"), ("/v1/completions", "prompt"),
     ("/v1/embeddings", "input")],
)  # fmt: skip
def test_limits_name_the_limit_the_size_and_the_field(path: str, param: str) -> None:
    limits = AnalysisLimits(max_chars=10, max_items=2)
    limits.check(["12345", "12345"], path)  # at both limits
    with pytest.raises(AnalysisLimitExceeded) as items:
        limits.check(["a", "b", "c"], path)
    assert items.value.param == param
    assert items.value.code == "analysis_limit_exceeded"
    assert items.value.status == 400
    assert "This request has 3 texts" in items.value.message
    assert "at most 2 texts" in items.value.message
    with pytest.raises(AnalysisLimitExceeded) as chars:
        limits.check(["123456", "123456"], path)
    assert "This request has 12 characters" in chars.value.message
    assert "at most 10 characters" in chars.value.message
    AnalysisService(Gated(), 1).check_request(["x" * 100] * 100, path)  # no limits set


async def test_a_short_request_is_analysed_on_the_loop_and_a_longer_one_in_a_thread() -> None:
    # Measured: a one-line request's analysis costs less than the hop to a thread would.
    seen: list[str] = []

    class Where:
        def analyze(self, text: str, entities: object = None) -> list[Span]:
            seen.append(threading.current_thread().name)
            return []

    service = AnalysisService(Where(), threads=1, inline_chars=20)
    policy = load_preset("gdpr-default")
    await service.analyze(["short"], policy, tenant="t")
    await service.analyze(["a text longer than twenty characters"], policy, tenant="t")
    service.close()
    assert seen[0] == threading.main_thread().name
    assert seen[1] != threading.main_thread().name
