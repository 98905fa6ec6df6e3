"""The request schemas the gateway checks before anything else reads a request: OpenAI's
(chat, completions, embeddings) and vLLM's own (``/tokenize``, ``/detokenize``).

Schemas check what the gateway must rely on (model, stream flags, types and ranges of common
parameters) and keep every other field (``extra="allow"``), so engine-specific parameters such
as vLLM's ``top_k`` or ``guided_json`` reach the engine unchanged (under a GDPR policy,
``gateway/privacy/fields.py`` then decides, field by field, what may go).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ModelName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
# What JSON numbers on the way to an engine may be (vLLM parses them into C types).
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
# A token count: whether it fits the model's context is checked against the model itself.
TokenCount = Annotated[int, Field(ge=1, le=2**63 - 1)]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool | None = None
    continuous_usage_stats: bool | None = None  # vLLM: usage on every chunk (with the above)


class OpenAIRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: ModelName

    def forward_payload(self) -> dict[str, Any]:
        """What goes to the engine: exactly what the client set, nothing added or dropped."""
        return self.model_dump(mode="json", exclude_unset=True)


class SamplingRequest(OpenAIRequest):
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: TokenCount | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    n: int | None = Field(None, ge=1, le=128)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: Int64 | None = None
    stop: str | list[str] | None = None
    user: str | None = Field(None, max_length=256)


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


class CompletionRequest(SamplingRequest):
    # A string, a list of strings, a list of token ids, or a list of token-id lists.
    prompt: str | list[str] | list[int] | list[list[int]]
    echo: bool | None = None
    logprobs: int | None = Field(None, ge=0, le=20)
    suffix: str | None = None


class EmbeddingRequest(OpenAIRequest):
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(None, ge=1)
    user: str | None = Field(None, max_length=256)


class TokenizeRequest(OpenAIRequest):
    """vLLM's ``/tokenize``: a completion's ``prompt`` or a chat's ``messages``, one of them
    (vLLM would silently take one of two; the model is required, as the gateway routes on
    it)."""

    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    add_special_tokens: bool | None = None
    add_generation_prompt: bool | None = None
    continue_final_message: bool | None = None
    return_token_strs: bool | None = None

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> TokenizeRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("send either 'prompt' (a text) or 'messages' (a chat)")
        return self


class DetokenizeRequest(OpenAIRequest):
    """vLLM's ``/detokenize``: token ids to text."""

    tokens: list[Annotated[int, Field(ge=0, le=2**63 - 1)]]
