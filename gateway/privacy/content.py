"""Content logging for tenants whose policy asks for it (``log_content``): what is kept, masked.

Kept: the prompt as it was sent to the engine (after the policy's own masking and
pseudonymisation) and the answer as the engine wrote it (placeholders not yet restored).
Before either is written, the analyzer runs once more over it for *every* entity type, not
just those the policy acts on, and each finding becomes ``<TYPE>``; placeholders such as
``<PERSON_1>`` stay (they name no one without the vault). So a value the policy allowed or only
flagged is still never logged.

A stream's answer is collected from the events the gateway relays anyway (a copy of the
delta texts, never holding an event back); only tenants with content logging pay for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.privacy import texts as slots_of
from gateway.privacy.analysis import AnalysisService
from policies import entities
from policies.decide import mask_token, rewrite
from policies.model import Policy
from policies.pseudonym.placeholders import PLACEHOLDER_RE

_DATA = b"data: "


@dataclass(slots=True)
class ContentCapture:
    """One request's texts for the content log: the prompt now, the answer as it comes."""

    policy: Policy
    prompt: list[str]
    _parts: dict[int, list[str]] = field(default_factory=dict)  # choice index -> pieces

    @classmethod
    def of_request(cls, policy: Policy, payload: dict[str, Any], path: str) -> ContentCapture:
        return cls(policy, slots_of.read(slots_of.request_slots(payload, path)))

    def answer_body(self, body: bytes) -> None:
        """A whole answer (not streamed): its generated texts."""
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        if isinstance(parsed, dict):
            for i, text in enumerate(slots_of.read(slots_of.answer_slots(parsed))):
                self._parts[i] = [text]

    def stream_event(self, event: bytes) -> None:
        """A chunk of whole SSE events as the engine sent it: copies the delta texts."""
        for line in event.split(b"\n"):
            if not line.startswith(_DATA) or line == b"data: [DONE]":
                continue
            try:
                chunk = orjson.loads(line[len(_DATA) :])
            except orjson.JSONDecodeError:
                continue
            if isinstance(chunk, dict) and chunk.get("type") == "response.output_text.delta":
                self._parts.setdefault(0, []).append(str(chunk.get("delta", "")))  # Responses
                continue
            if isinstance(chunk, dict) and chunk.get("type") == "content_block_delta":
                self._block(chunk)  # Anthropic's Messages
                continue
            choices = chunk.get("choices") if isinstance(chunk, dict) else None
            for choice in choices or []:
                if isinstance(choice, dict):
                    self._choice(choice)

    def _block(self, chunk: dict[str, Any]) -> None:
        index, delta = chunk.get("index", 0), chunk.get("delta")
        if not isinstance(delta, dict):
            return
        for key in ("text", "thinking", "partial_json"):
            if isinstance(delta.get(key), str):
                self._parts.setdefault(index if isinstance(index, int) else 0, []).append(
                    delta[key]
                )

    def _choice(self, choice: dict[str, Any]) -> None:
        index = choice.get("index", 0)
        pieces = self._parts.setdefault(index if isinstance(index, int) else 0, [])
        delta = choice.get("delta")
        text = choice.get("text")  # completions
        if isinstance(text, str):
            pieces.append(text)
        if not isinstance(delta, dict):
            return
        if isinstance(delta.get("content"), str):
            pieces.append(delta["content"])
        for call in delta.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                pieces.append(function["arguments"])

    @property
    def answer(self) -> list[str]:
        return ["".join(self._parts[i]) for i in sorted(self._parts)]


async def masked(
    analysis: AnalysisService, policy: Policy, texts: Sequence[str], tenant: str
) -> list[str]:
    """``texts`` with every entity found (any type) replaced by ``<TYPE>``, placeholders kept
    (analysed in ``tenant``'s share of the threads). Raises ``PolicyUnavailable`` if the
    analysis fails: then nothing is logged."""
    found = await analysis.analyze(texts, policy, entities.ALL, tenant=tenant)
    out: list[str] = []
    for text, spans in zip(texts, found, strict=True):
        keep = [s for s in spans if not PLACEHOLDER_RE.fullmatch(s.text_of(text))]
        out.append(rewrite(text, [(s, mask_token(s.entity)) for s in keep]))
    return out
