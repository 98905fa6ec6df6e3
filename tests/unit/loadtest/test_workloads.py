"""Workload samplers: seeded, inside the context, medians where the docstring says."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from loadtest import corpus
from loadtest.workloads import (
    BATCH_SUMMARY,
    CITIZEN_CHAT,
    CONTACT_CENTRE,
    ChatRequest,
    CitizenSession,
    Limits,
    LogNormal,
    fit,
    sample_batch_summary,
    sample_contact_centre,
)

WIDE = Limits(max_context=131072)  # no cap bites: the distributions as documented


def test_the_same_seed_gives_the_same_requests() -> None:
    for sampler in (sample_contact_centre, sample_batch_summary):
        first = [sampler(random.Random(7), WIDE) for _ in range(3)]
        again = [sampler(random.Random(7), WIDE) for _ in range(3)]
        other = sampler(random.Random(8), WIDE)
        assert first == again
        assert other != first[0]


@pytest.mark.parametrize("max_context", [512, 2048, 32768])
def test_prompt_plus_output_stays_inside_the_context(max_context: int) -> None:
    limits = Limits(max_context=max_context)
    rng = random.Random(1)
    for sampler in (sample_contact_centre, sample_batch_summary):
        for _ in range(300):
            request = sampler(rng, limits)
            assert request.max_tokens >= 16
            assert request.prompt_tokens_estimate + request.max_tokens <= limits.usable
            # The estimate is what the messages really hold, not the sampled target.
            assert request.prompt_tokens_estimate == limits.prompt_tokens(request.messages)


def test_a_context_too_small_for_the_fixed_prompt_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        sample_contact_centre(random.Random(1), Limits(max_context=128))


def test_fit_shortens_the_prompt_first_and_the_output_only_when_it_must() -> None:
    limits = Limits(max_context=1000)  # usable: 920
    assert fit(3000, 300, 100, limits) == (620, 300)
    assert fit(200, 300, 100, limits) == (200, 300)
    assert fit(3000, 900, 100, limits) == (100, 820)


def _medians(requests: list[ChatRequest]) -> tuple[float, float]:
    prompts = statistics.median(r.prompt_tokens_estimate for r in requests)
    return prompts, statistics.median(r.max_tokens for r in requests)


def test_single_turn_medians_are_where_documented() -> None:
    rng = random.Random(3)
    contact = _medians([sample_contact_centre(rng, WIDE) for _ in range(2000)])
    batch = _medians([sample_batch_summary(rng, WIDE) for _ in range(2000)])
    assert contact[0] == pytest.approx(350, rel=0.08)
    assert contact[1] == pytest.approx(120, rel=0.08)
    assert batch[0] == pytest.approx(3000, rel=0.08)
    assert batch[1] == pytest.approx(300, rel=0.05)
    assert CONTACT_CENTRE.ttft_p95_slo_ms == 500
    assert BATCH_SUMMARY.think_s.high == 0


def test_lognormal_median_and_clamp() -> None:
    rng = random.Random(5)
    draws = [LogNormal(median=250, sigma=0.4, low=32, high=600).sample(rng) for _ in range(4000)]
    assert statistics.median(draws) == pytest.approx(250, rel=0.05)
    assert min(draws) >= 32
    assert max(draws) <= 600
    narrow = [LogNormal(median=100, sigma=3.0, low=90, high=110).sample(rng) for _ in range(200)]
    assert set(narrow) <= set(range(90, 111))
    assert {90, 110} <= set(narrow)


def _play(session: CitizenSession) -> list[ChatRequest]:
    """Run a session to its end, answering each turn with text of its output length."""
    turns = []
    while (request := session.next_request()) is not None:
        turns.append(request)
        session.add_reply("Antwort " * (request.max_tokens // 3))
    return turns


def test_a_citizen_session_resends_its_growing_history() -> None:
    session = CitizenSession(random.Random(11), WIDE)
    turns = _play(session)
    low, high = CITIZEN_CHAT.turns
    assert low <= len(turns) == session.turns <= high
    for before, after in itertools.pairwise(turns):
        # Turn n+1 starts with everything turn n sent, then its answer: a shared prefix.
        assert after.messages[: len(before.messages)] == before.messages
        assert after.messages[len(before.messages)]["role"] == "assistant"
        assert after.prompt_tokens_estimate > before.prompt_tokens_estimate
        assert len(after.messages) == len(before.messages) + 2
    assert {t.session_id for t in turns} == {session.session_id}
    assert [t.turn for t in turns] == list(range(1, len(turns) + 1))
    assert turns[0].messages[0]["content"] == corpus.CITIZEN_SYSTEM_PROMPT
    questions = [t.messages[-1]["content"] for t in turns]
    assert len(set(questions)) == len(questions)


def test_a_session_ends_early_when_the_history_fills_the_context() -> None:
    limits = Limits(max_context=1024)
    for seed in range(20):
        for turn in _play(CitizenSession(random.Random(seed), limits)):
            assert turn.prompt_tokens_estimate + turn.max_tokens <= limits.usable
    lengths = {len(_play(CitizenSession(random.Random(s), limits))) for s in range(20)}
    assert max(lengths) < CITIZEN_CHAT.turns[1]


def test_a_session_wants_each_answer_before_the_next_question() -> None:
    session = CitizenSession(random.Random(1), WIDE)
    assert session.next_request() is not None
    with pytest.raises(RuntimeError):
        session.next_request()
    session.add_reply("ok")
    with pytest.raises(RuntimeError):
        session.add_reply("twice")


def test_citizen_sessions_differ_in_key_and_questions() -> None:
    rng = random.Random(2)
    sessions = [CitizenSession(rng, WIDE) for _ in range(30)]
    assert len({s.session_id for s in sessions}) == 30
    firsts = [s.next_request() for s in sessions]
    openers = {r.messages[-1]["content"] for r in firsts if r is not None}
    assert len(openers) > 10
    assert all("{" not in opener for opener in openers)


def test_synthetic_text_reaches_its_length_and_cuts_at_a_word() -> None:
    rng = random.Random(4)
    for target in (0, 1, 50, 999, 12000):
        text = corpus.synthetic_text(rng, corpus.SUMMARY_SENTENCES, target)
        assert len(text) <= target
        assert target - len(text) < 25
        assert not text.endswith(" ")
    transcript = corpus.dialogue(rng, 2000)
    assert transcript.startswith("Kunde:")
    assert "\nAgent:" in transcript
