"""The body of ``POST /v1/messages``: what the gateway relies on, checked; the rest kept.

As for OpenAI's requests (``gateway/openai/schemas.py``), every other field is kept
(``extra="allow"``): vLLM's own (``chat_template_kwargs``, ``cache_salt``, ...) reach the
engine unchanged, and under a policy ``gateway/privacy/fields.py`` decides field by field.
``max_tokens`` is required, as Anthropic's API and vLLM require it. ``count_tokens`` takes the
same conversation without the sampling fields (``CountTokensRequest``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.openai.schemas import Int64, OpenAIRequest, TokenCount


class AnthropicMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    # vLLM also takes "system" turns (its tool_addition blocks live there).
    role: Literal["user", "assistant", "system"]
    # A string, or content blocks: text, image, tool_use, tool_result, thinking, ...
    content: str | list[dict[str, Any]]


class MessagesRequest(OpenAIRequest):
    """Anthropic's Messages request (vLLM 0.32's ``AnthropicMessagesRequest``)."""

    messages: list[AnthropicMessage] = Field(min_length=1)
    max_tokens: TokenCount
    system: str | list[dict[str, Any]] | None = None
    stream: bool | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: Int64 | None = Field(None, ge=0)
    stop_sequences: list[str] | None = None
    metadata: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None


class CountTokensRequest(OpenAIRequest):
    """Anthropic's ``messages.count_tokens`` (vLLM 0.32's ``AnthropicCountTokensRequest``):
    the conversation a message would send, counted by the engine's tokenizer."""

    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
