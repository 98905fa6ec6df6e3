"""The disclosure's pure decisions: which text, which turn, which answers may carry it.

**The first turn.** The gateway keeps no conversation state, so a conversation's first turn
is read from the request itself: it holds no earlier assistant message *with text* (OpenAI
chat and Anthropic messages: an ``assistant`` message; the Responses API: an ``assistant``
``message`` item of its ``input``). An assistant turn made only of tool calls does not count:
the person has not read anything yet, so the notice goes into the first answer they read.
``previous_response_id`` and ``conversation`` are refused by the gateway (its Responses API
is stateless), so the Responses API's history is always in ``input``. A prefilled assistant
message (a continuation) counts as a turn: text put in front of a continuation would land
in the middle of the model's sentence.

**Answers that stay machine-readable.** An answer constrained to JSON (``response_format``
``json_object``/``json_schema``, the Responses API's ``text.format``, vLLM's structured
outputs) or to a regex, choice or grammar never gets text put into it: it would no longer
parse. Tool calls are never touched either. Such answers carry the notice only in the
``x-sovereign-ai-disclosure`` header, which every answer that owes the notice carries, so a
client always finds it in one place.

**The header.** HTTP header values are Latin-1 at best; a notice in plain ASCII is sent as it
is, any other as RFC 8187's ``UTF-8''<percent-encoded>`` (the form ``filename*`` uses).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from gateway.core.tenant import AiDisclosure
from gateway.privacy.json_answers import answer_formats

HEADER = "x-sovereign-ai-disclosure"
DEFAULT_NOTICES = {
    "de": "Hinweis: Sie kommunizieren mit einem KI-System.",
    "en": "Note: you are interacting with an AI system.",
}
# system_prompt mode: what the model is told. Whether it complies depends on the model.
INSTRUCTIONS = {
    "de": (
        "Du bist ein KI-System. Beginne deine Antwort mit genau diesem Hinweis, wörtlich und "
        "in einer eigenen Zeile: {notice}"
    ),
    "en": (
        "You are an AI system. Begin your answer with exactly this notice, word for word, on "
        "a line of its own: {notice}"
    ),
}
SEPARATOR = "\n\n"  # between the notice and the answer's own text
CONVERSATIONS = ("/v1/chat/completions", "/v1/messages", "/v1/responses")
_CONSTRAINED = ("guided_regex", "guided_choice", "guided_grammar")


@dataclass(frozen=True, slots=True)
class Owed:
    """The disclosure a request's answer owes: its notice, and where it may go."""

    notice: str
    mode: str  # "first_answer" or "system_prompt"
    in_text: bool  # False: the header only (a JSON or otherwise constrained answer)

    @property
    def in_answer(self) -> bool:
        """Whether the gateway puts the notice into the answer's text itself."""
        return self.mode == "first_answer" and self.in_text

    @property
    def prefix(self) -> str:
        return self.notice + SEPARATOR


def notice_of(setting: AiDisclosure) -> str:
    return setting.text or DEFAULT_NOTICES[setting.language]


def instruction_of(setting: AiDisclosure) -> str:
    return INSTRUCTIONS[setting.language].format(notice=notice_of(setting))


def owed(setting: AiDisclosure, path: str, payload: Mapping[str, Any]) -> Owed | None:
    """The disclosure this request's answer owes, or None (off, not a conversation's first
    turn, or an endpoint that holds no conversation)."""
    if setting.mode == "off" or path not in CONVERSATIONS or not first_turn(path, payload):
        return None
    return Owed(notice_of(setting), setting.mode, not constrained(payload))


def first_turn(path: str, payload: Mapping[str, Any]) -> bool:
    if path == "/v1/responses":
        items = payload.get("input")
        if not isinstance(items, list):
            return True  # a string: one user message
        return not any(_assistant_text(item) for item in items if isinstance(item, dict))
    messages = payload.get("messages")
    if not isinstance(messages, list):
        return True
    return not any(_assistant_text(m) for m in messages if isinstance(m, dict))


def _assistant_text(message: Mapping[str, Any]) -> bool:
    if message.get("role") != "assistant" or message.get("type", "message") != "message":
        return False
    content = message.get("content")
    if isinstance(content, str):
        return bool(content.strip())
    if isinstance(content, list):  # parts: text (chat), text (anthropic), output_text
        return any(
            isinstance(part, dict)
            and part.get("type") in ("text", "output_text")
            and bool(str(part.get("text", "")).strip())
            for part in content
        )
    return False


def constrained(payload: Mapping[str, Any]) -> bool:
    """Whether the answer's text is constrained (JSON, regex, choice, grammar)."""
    if answer_formats(payload).content is not None:
        return True
    outputs = payload.get("structured_outputs")
    if isinstance(outputs, dict) and any(v is not None for v in outputs.values()):
        return True
    return any(payload.get(key) is not None for key in _CONSTRAINED)


def header_value(notice: str) -> str:
    if notice.isascii() and notice.isprintable():
        return notice
    return "UTF-8''" + quote(notice, safe="")
