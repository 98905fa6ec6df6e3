"""The answer guard on streamed answers: masks what the model made up, across event
boundaries, releases plain prose at once (eager mode) and stops a blocked answer in-band."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import pytest

from gateway.privacy.analysis import AnalysisService
from gateway.privacy.applied import Applied
from gateway.privacy.stream_guard import AnswerGuard, GuardedStream, guarded_types
from policies.analyzer import build_analyzer
from policies.model import Policy, load_preset, parse_policy

IBAN = "GB82 WEST 1234 5698 7654 32"


@pytest.fixture(scope="module")
def analysis() -> Iterator[AnalysisService]:
    service = AnalysisService(build_analyzer(), threads=1)
    yield service
    service.close()


def _event(piece: str, finish: str | None = None) -> bytes:
    chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _content(event: bytes) -> str:
    return str(json.loads(event[6:])["choices"][0]["delta"]["content"])


async def _run(guard: AnswerGuard, pieces: list[str]) -> list[str]:
    events = [_event(p) for p in pieces] + [_event("", "stop")]
    return [_content(await guard.feed(e)) for e in events]


async def test_prose_streams_at_once_and_an_invented_iban_is_masked_whole(
    analysis: AnalysisService,
) -> None:
    policy = load_preset("gdpr-default")
    applied = Applied(policy, "enforce", tenant="t")
    guard = AnswerGuard(analysis, applied)
    text = f"Gern geschehen. Bitte überweisen Sie den Betrag an {IBAN} bis Freitag, danke sehr."
    out = await _run(guard, _pieces(text, 3))
    assert "".join(out) == text.replace(IBAN, "<IBAN>")
    # Eager mode: until the IBAN starts, text is released as soon as each word is complete.
    assert out[:6] == ["", "Gern ", "", "", "", "geschehen. "]
    assert applied.answer == {("IBAN", "mask"): 1}


async def test_names_are_masked_in_conservative_mode_whatever_the_split(
    analysis: AnalysisService,
) -> None:
    policy = load_preset("public-sector-strict")
    assert "PERSON" in guarded_types(policy)
    text = "Zuständig ist Frau Dr. Henrike Vollmer-Sander im Bürgeramt Mitte. " * 3
    for size in (1, 4, 9):
        guard = AnswerGuard(analysis, Applied(policy, "enforce", tenant="t"))
        out = "".join(await _run(guard, _pieces(text, size)))
        assert "Vollmer" not in out
        assert out.count("<PERSON>") == 3


async def test_a_blocked_type_ends_the_stream_with_an_in_band_error(
    analysis: AnalysisService,
) -> None:
    policy: Policy = parse_policy("id: no-cards\nentities:\n  CREDIT_CARD: {response: block}\n")
    guard = AnswerGuard(analysis, Applied(policy, "enforce", tenant="t"))

    class Source:
        finish_on_disconnect = False

        async def events(self) -> AsyncIterator[bytes]:
            for piece in _pieces("Ihre Karte 4111 1111 1111 1111 ist gesperrt. Danke.", 4):
                yield _event(piece)
            yield _event("", "stop")

        async def aclose(self, *, client_gone: bool = False) -> None:
            return None

    relayed = [e async for e in GuardedStream(Source(), guard, {}).events()]
    assert relayed[-1].startswith(b'data: {"error"')
    assert b"pii_blocked_in_answer" in relayed[-1]
    assert b"4111" not in b"".join(relayed)


def test_shadow_policies_guard_nothing() -> None:
    shadow = parse_policy("id: s\nshadow: true\nentities:\n  PERSON: {response: mask}\n")
    assert guarded_types(shadow) == frozenset()


async def test_an_iban_in_full_width_digits_is_held_and_masked_too(
    analysis: AnalysisService,
) -> None:
    # Eager mode holds text from the first digit on: a digit of any script counts, or a
    # value written in full-width digits would stream out unanalysed (issue 12, item 6).
    policy = load_preset("gdpr-default")
    applied = Applied(policy, "enforce", tenant="t")
    guard = AnswerGuard(analysis, applied)
    wide = "GB82 WEST 1234 5698 7654 32".translate({c: c + 0xFEE0 for c in range(0x30, 0x3A)})
    text = f"Bitte überweisen Sie den Betrag an {wide} bis Freitag, danke sehr."
    out = await _run(guard, _pieces(text, 3))
    assert "".join(out) == text.replace(wide, "<IBAN>")
    assert applied.answer == {("IBAN", "mask"): 1}
