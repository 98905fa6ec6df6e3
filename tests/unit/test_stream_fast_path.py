"""The fast path changes nothing observable (issue 13): an event relayed without a parse is
relayed as the parsing path relays it.

Random answers (placeholders whole, partial and unknown, values to mask, escapes, quotes and
backslashes, full-width digits, PEM blocks, cards to block) are split at random event
boundaries, in vLLM's chat and completion chunk shapes, one or two choices, each event's text
encoded at random (UTF-8 as it is, every non-ASCII character ``\\uXXXX``-escaped, "@" and "<"
escaped), some events coalesced into one chunk. The stream layers as the gateway wires them
are compared with a reference that parses and processes every event: the answer guard's
``feed_parsed`` and a ``ChunkRestorer`` on every event. Every relayed event's texts, the
in-band errors and the findings counted must be equal. The analyzer is a deterministic fake
(regular expressions): the guard's decisions are the subject, not detection
(test_stream_guard.py runs the real one).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import PolicyBlocked, UpstreamError, render_sse
from gateway.privacy.analysis import AnalysisService
from gateway.privacy.answer import StreamRestoring
from gateway.privacy.applied import Applied
from gateway.privacy.stream_guard import HOLD, WINDOW, AnswerGuard, GuardedStream
from policies.model import Policy, load_preset, parse_policy
from policies.pseudonym.chunks import ChunkRestorer
from policies.spans import Span

MAPPING = {
    "<PERSON_1>": "Annette Brandmeier",
    "<IBAN_1>": "DE89 3704 0044 0532 0130 00",
    "<EMAIL_ADDRESS_1>": "a.brandmeier@example.de",
    "<SECRET_1>": 'line "one"\\n<',
}
WIDE = str.maketrans({c: c + 0xFEE0 for c in range(0x30, 0x3A)})
FRAGMENTS = [
    "Hallo ",
    "Welt, ",
    "vielen Dank für Ihre Nachricht. ",
    "Grüße aus der Straße ",
    "the answer is ",
    "\n",
    "\n\n",
    " ",
    "x < y ",
    'ein "Zitat" ',
    "back\\slash ",
    "tab\there ",
    "Vollmer ",
    *MAPPING,
    "<PERSON_2>",  # unknown: stays
    "<PERS",
    "<IBAN_",
    "DE89 3704 0044 0532 0130 00",
    "GB82 WEST 1234 5698 7654 32".translate(WIDE),
    "a.brandmeier@example.de",
    "info\uff20example.de",
    "+49 89 1234567",
    "am 3. März ",
    "4111 1111 1111 1111",
    "-----BEGIN PRIVATE KEY-----\nMIIBVgIBADANBgkq\n-----END PRIVATE KEY-----",
    "Steuer-ID",
    "-" * 5,
]
POLICIES = {
    "gdpr-default": load_preset("gdpr-default"),  # eager: contact details and identifiers
    "public-sector-strict": load_preset("public-sector-strict"),  # conservative: names too
    "no-cards": parse_policy("id: no-cards\nentities:\n  CREDIT_CARD: {response: block}\n"),
}
_FOUND = [
    ("IBAN", re.compile(r"[A-Z]{2}\d{2}(?: ?[\dA-Z]{4}){2,7}(?: ?[\dA-Z]{1,3})?")),
    ("EMAIL_ADDRESS", re.compile(r"[\w.+-]+[@\uff20][\w-]+(?:\.[\w-]+)+")),
    ("PHONE_NUMBER", re.compile(r"\+\d{2}(?: \d+){1,3}")),
    ("CREDIT_CARD", re.compile(r"4111(?: 1111){3}")),
    ("SECRET", re.compile(r"-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----")),
    ("PERSON", re.compile(r"\b(?:Vollmer|Brandmeier)\b")),
]


class FakeAnalysis:
    """What AnswerGuard asks of the analysis service, by regular expressions."""

    async def analyze(
        self, texts: Sequence[str], policy: Policy, *, tenant: str
    ) -> list[list[Span]]:
        return [_spans(text) for text in texts]


def _spans(text: str) -> list[Span]:
    found = sorted(
        Span(m.start(), m.end(), entity, 1.0) for entity, rx in _FOUND for m in rx.finditer(text)
    )
    kept: list[Span] = []
    for span in found:
        if not kept or span.start >= kept[-1].end:
            kept.append(span)
    return kept


# -- streams in vLLM's shapes --------------------------------------------------------------


def _literal(text: str, how: str) -> bytes:
    """``text`` as a JSON string literal, written one of the ways engines write them."""
    if how == "ascii":
        return json.dumps(text).encode()  # every non-ASCII character escaped
    literal = orjson.dumps(text)
    if how == "marks":
        literal = literal.replace(b"@", b"\\u0040").replace(b"<", b"\\u003c")
    return literal


def _event(kind: str, index: int, literal: bytes, finish: str | None, role: bool) -> bytes:
    obj = b"chat.completion.chunk" if kind == "chat" else b"text_completion"
    head = b'data: {"id":"cmpl-1","object":"%s","created":1,"model":"m","choices":[' % obj
    if kind == "chat":
        role_field = b'"role":"assistant",' if role else b""
        body = b'"delta":{' + role_field + b'"content":' + literal + b"}"
    else:
        body = b'"text":' + literal
    end = b"null" if finish is None else b'"' + finish.encode() + b'"'
    return head + b'{"index":%d,%s,"logprobs":null,"finish_reason":%s}]}\n\n' % (index, body, end)


USAGE = (
    b'data: {"id":"cmpl-1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14}}\n\n'
)
DONE = b"data: [DONE]\n\n"


@st.composite
def streams(draw: st.DrawFn) -> list[bytes]:
    kind = draw(st.sampled_from(["chat", "chat", "completion"]))
    choices = draw(st.sampled_from([1, 1, 1, 2]))
    queues: list[list[bytes]] = []
    for index in range(choices):
        text = "".join(draw(st.lists(st.sampled_from(FRAGMENTS), max_size=10)))
        cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=len(text) // 2 + 2)))
        bounds = [0, *cuts, len(text)]
        pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
        how = st.sampled_from(["utf8", "utf8", "ascii", "marks"])
        events = [_event(kind, index, b'""', None, True)] if kind == "chat" else []
        events += [_event(kind, index, _literal(p, draw(how)), None, False) for p in pieces[:-1]]
        events.append(_event(kind, index, _literal(pieces[-1], draw(how)), "stop", False))
        queues.append(events)
    ordered: list[bytes] = []
    while any(queues):  # the choices interleaved at random, each in its order
        ordered.append(draw(st.sampled_from([q for q in queues if q])).pop(0))
    ordered += [USAGE, DONE]
    chunks: list[bytes] = []
    for event in ordered:  # some events written together (one chunk of whole events)
        if chunks and draw(st.integers(0, 9)) == 0:
            chunks[-1] += event
        else:
            chunks.append(event)
    return chunks


# -- the layers and their reference --------------------------------------------------------


def texts_of(chunk: bytes) -> list[Any]:
    """What a client reads in a relayed chunk: per event, each choice's text and finish, or
    the error's code."""
    read: list[Any] = []
    for event in chunk.split(b"\n\n"):
        if not event.startswith(b"data: {"):
            read.append(event)
            continue
        document = orjson.loads(event[6:])
        if "error" in document:
            read.append(("error", document["error"]["code"]))
            continue
        for choice in document.get("choices") or ():
            delta = choice.get("delta") or {}
            text = delta.get("content") if "delta" in choice else choice.get("text")
            read.append((choice.get("index"), text, choice.get("finish_reason")))
    return read


def _restore_all(restorer: ChunkRestorer, chunk: bytes) -> bytes:
    out = []
    for event in chunk.split(b"\n\n"):
        if event.startswith(b"data: {") and not event.startswith(b'data: {"error"'):
            event = b"data: " + orjson.dumps(restorer.on_chunk(orjson.loads(event[6:])))
        out.append(event)
    return b"\n\n".join(out)


def _guard(policy: Policy) -> tuple[AnswerGuard, Applied]:
    applied = Applied(policy, "enforce", tenant="t")
    return AnswerGuard(cast(AnalysisService, FakeAnalysis()), applied), applied


async def _reference(
    chunks: list[bytes], policy: Policy, mapping: dict[str, str]
) -> tuple[list[Any], Counter[tuple[str, str]]]:
    """Every event parsed and fully processed, as before the fast path."""
    guard, applied = _guard(policy)
    restorer = ChunkRestorer(mapping) if mapping else None
    relayed: list[Any] = []
    for chunk in chunks:
        try:
            out = await guard.feed_parsed(chunk)
        except (PolicyBlocked, UpstreamError) as exc:
            relayed.append(texts_of(render_sse(exc)))
            break
        relayed.append(texts_of(_restore_all(restorer, out) if restorer else out))
    return relayed, applied.answer


class _Source:
    finish_on_disconnect = False

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def events(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk

    async def aclose(self, *, client_gone: bool = False) -> None:
        return None


async def _gateway(
    chunks: list[bytes], policy: Policy, mapping: dict[str, str]
) -> tuple[list[Any], Counter[tuple[str, str]]]:
    guard, applied = _guard(policy)
    stream = GuardedStream(_Source(chunks), guard, mapping)
    return [texts_of(chunk) async for chunk in stream.events()], applied.answer


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(
    chunks=streams(),
    policy=st.sampled_from(sorted(POLICIES)),
    mapping=st.sampled_from([MAPPING, {}]),
)
def test_guarded_streams_relay_what_parsing_every_event_relays(
    chunks: list[bytes], policy: str, mapping: dict[str, str]
) -> None:
    fast = asyncio.run(_gateway(chunks, POLICIES[policy], mapping))
    reference = asyncio.run(_reference(chunks, POLICIES[policy], mapping))
    assert fast == reference


@PROPERTY
@given(chunks=streams())
def test_restored_streams_relay_what_parsing_every_event_relays(chunks: list[bytes]) -> None:
    restoring = StreamRestoring(MAPPING)
    restorer = ChunkRestorer(MAPPING)
    fast = [texts_of(restoring(chunk)) for chunk in chunks]
    assert fast == [texts_of(_restore_all(restorer, chunk)) for chunk in chunks]


def _prose_stream(tokens: int) -> list[bytes]:
    words = [b'" und"', b'" Welt"', b'" f\xc3\xbcr"', b'",\\n"', b'" Stra\\u00dfe"']
    events = [_event("chat", 0, b'""', None, True)]
    events += [_event("chat", 0, words[i % len(words)], None, False) for i in range(tokens)]
    return [*events, _event("chat", 0, b'"."', "stop", False), USAGE, DONE]


async def test_plain_events_take_the_fast_path(monkeypatch: Any) -> None:
    """The point of it all: after the first two events, prose is never parsed."""
    parsed: list[bytes] = []
    feed_parsed = AnswerGuard.feed_parsed

    async def counting(self: AnswerGuard, chunk: bytes) -> bytes:
        parsed.append(chunk)
        return await feed_parsed(self, chunk)

    monkeypatch.setattr(AnswerGuard, "feed_parsed", counting)
    chunks = _prose_stream(200)
    text = "".join(t[1] for c in chunks for t in texts_of(c) if isinstance(t, tuple))
    for policy in POLICIES.values():
        parsed.clear()
        relayed, _ = await _gateway(chunks, policy, MAPPING)
        assert len(relayed) == len(chunks)
        # The role event, the first token (learning), the finish, usage and [DONE]; the
        # conservative policy also parses whenever a window of text is due for analysis
        # (each one releases all but HOLD characters).
        analyses = len(text) // (WINDOW - HOLD) + 1 if policy.id == "public-sector-strict" else 0
        assert len(parsed) <= 5 + analyses, policy.id
    restoring = StreamRestoring(MAPPING)
    assert [restoring(c) for c in chunks] == chunks  # nothing to restore: the same bytes
    assert restoring._shapes.match(chunks[5]) is not None  # and the shape was learned
