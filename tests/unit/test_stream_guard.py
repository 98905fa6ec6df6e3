"""The answer guard on streamed answers: masks what the model made up, across event
boundaries, releases plain prose at once (eager mode) and stops a blocked answer in-band."""

from __future__ import annotations

import json
import re
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


# -- issue 13: the fast path (vLLM's compact events, whose shape the guard learns) ---------

HEAD = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":['


def _compact(piece: str, finish: str | None = None, *, escape: str = "") -> bytes:
    """A token event as vLLM writes it (compact JSON); the characters in ``escape``
    written as ``\\uXXXX`` escapes, as an engine may."""
    literal = "".join(
        f"\\u{ord(c):04x}" if c in escape else json.dumps(c, ensure_ascii=False)[1:-1]
        for c in piece
    )
    literal = f'"{literal}"'
    end = b"null" if finish is None else json.dumps(finish).encode()
    choice = b'{"index":0,"delta":{"content":%s},"logprobs":null,"finish_reason":%s}' % (
        literal.encode(),
        end,
    )
    return HEAD + choice + b"]}\n\n"


async def _relay_compact(
    analysis: AnalysisService, policy: Policy, events: list[bytes], mapping: dict[str, str]
) -> tuple[list[bytes], Applied]:
    applied = Applied(policy, "enforce", tenant="t")

    class Source:
        finish_on_disconnect = False

        async def events(self) -> AsyncIterator[bytes]:
            for event in events:
                yield event

        async def aclose(self, *, client_gone: bool = False) -> None:
            return None

    guard = AnswerGuard(analysis, applied)
    return [e async for e in GuardedStream(Source(), guard, mapping).events()], applied


def _texts(relayed: list[bytes]) -> str:
    return "".join(_content(e) for e in relayed if b'"content"' in e)


async def test_values_split_over_many_plain_events_are_held_and_masked(
    analysis: AnalysisService,
) -> None:
    # Each token is a plain event of the learned shape: decoded, never parsed. "DE" alone
    # holds no digit: held as an unfinished word, or the IBAN's start would leak.
    text = f"Gern. Die IBAN lautet {IBAN} und die Adresse a.b@example.de, danke sehr vielmals."
    events = [_compact(p) for p in _pieces(text, 2)] + [_compact("", "stop")]
    relayed, applied = await _relay_compact(analysis, load_preset("gdpr-default"), events, {})
    masked = text.replace(IBAN, "<IBAN>").replace("a.b@example.de", "<EMAIL_ADDRESS>")
    assert _texts(relayed) == masked
    assert applied.answer == {("IBAN", "mask"): 1, ("EMAIL_ADDRESS", "mask"): 1}


@pytest.mark.parametrize("value", ["a.b@example.de", "a.b\uff20example.de", IBAN])
async def test_escaped_values_are_not_skipped(analysis: AnalysisService, value: str) -> None:
    # Written as vLLM never does but an engine may: "\u0040" for "@", "\uff20" for a
    # full-width one, "\u0031" for "1". The bytes hold none of them: the guard reads the
    # decoded text.
    text = f"Schreiben Sie an {value} bis Freitag, danke sehr und schöne Grüße."
    escape = "@\uff200123456789"
    events = [_compact(p, escape=escape) for p in _pieces(text, 3)] + [_compact("", "stop")]
    literals = [e[e.index(b'"content":') : e.index(b',"logprobs"')] for e in events]
    unescaped = b"".join(re.sub(rb"\\u[0-9a-f]{4}", b"", literal) for literal in literals)
    assert not any(c.encode() in unescaped for c in escape)
    relayed, applied = await _relay_compact(analysis, load_preset("gdpr-default"), events, {})
    assert value not in _texts(relayed)
    assert _texts(relayed).startswith("Schreiben Sie an <")
    assert sum(applied.answer.values()) == 1


async def test_the_held_word_is_released_with_the_end_of_the_choice(
    analysis: AnalysisService,
) -> None:
    events = [_compact(""), _compact("Hallo"), _compact(" Welt"), _compact("", "stop")]
    relayed, _ = await _relay_compact(analysis, load_preset("gdpr-default"), events, {})
    assert [_content(e) for e in relayed] == ["", "", "Hallo ", "Welt"]
    assert relayed[1] == HEAD.join([b"", relayed[1][len(HEAD) :]])  # the engine's envelope


async def test_placeholders_held_by_both_are_restored_at_the_end(
    analysis: AnalysisService,
) -> None:
    pieces = ["Ihr", " Ansprech", "partner", " ist", " <", "PERSON", "_", "1", ">"]
    events = [_compact(p, escape="<>ü") for p in pieces] + [_compact("", "stop")]
    mapping = {"<PERSON_1>": "Jürgen Groß"}
    relayed, _ = await _relay_compact(analysis, load_preset("gdpr-default"), events, mapping)
    assert _texts(relayed) == "Ihr Ansprechpartner ist Jürgen Groß"


async def test_a_broken_event_of_a_known_shape_still_ends_the_stream(
    analysis: AnalysisService,
) -> None:
    good = [_compact(""), _compact("Hallo "), _compact("Welt ")]
    broken = good[1].replace(b'"Hallo "', b'"Hal"lo "')  # an unescaped quote
    relayed, _ = await _relay_compact(
        analysis, load_preset("gdpr-default"), [*good, broken, good[2]], {}
    )
    assert relayed[-1].startswith(b'data: {"error"')
    assert b"upstream_invalid_response" in relayed[-1]
    assert len(relayed) == 4
