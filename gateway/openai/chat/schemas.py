from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.openai.common import SamplingRequest, TokenCount


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str | None = None
    # A JSON string as OpenAI sends it; some clients send the object itself.
    arguments: str | dict[str, Any] | None = None


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    type: str | None = None
    function: FunctionCall | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    # A string, or a list of content parts (text, image_url, ...), or null for tool calls.
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    # An assistant turn's earlier tool calls, and a tool answer's reference to one.
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    function_call: FunctionCall | None = None


class ChatCompletionRequest(SamplingRequest):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: TokenCount | None = None
