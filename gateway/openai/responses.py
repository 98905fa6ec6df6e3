"""The request body of ``POST /v1/responses`` (OpenAI's Responses API, as vLLM 0.32 serves it).

The gateway is stateless on this route: nothing of a response is kept, by the gateway or by
the engine, so nothing can outlive the tenant's retention or escape its erasure.

- ``store`` is forced to ``false`` on the way to the engine (vLLM would otherwise keep the
  response in its own memory when ``VLLM_ENABLE_RESPONSES_API_STORE`` is set: outside the
  tenant's retention and erasure); the answer says ``"store": false``.
- ``previous_response_id``, ``conversation`` and ``background`` (which needs a stored
  response to poll) are refused with 400 naming the field: the client sends the whole
  conversation as ``input`` items instead, as OpenAI's stateless mode (``store: false``)
  expects.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from gateway.openai.schemas import Int64, OpenAIRequest, TokenCount

_STATELESS = (
    "this gateway keeps no responses (stateless, so nothing outlives your retention and "
    "erasure): send the whole conversation as 'input' items instead"
)


class ResponsesRequest(OpenAIRequest):
    # A text, or a list of input items (messages, function calls and their outputs, ...).
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    max_output_tokens: TokenCount | None = None
    stream: bool | None = None
    store: bool | None = None
    background: bool | None = None
    previous_response_id: str | None = None
    conversation: Any = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: Int64 | None = None
    tools: list[dict[str, Any]] | None = None
    text: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None
    user: str | None = Field(None, max_length=256)

    @field_validator("previous_response_id", "conversation")
    @classmethod
    def _stateless(cls, value: Any) -> Any:
        if value is not None:
            raise PydanticCustomError("stateless", _STATELESS)
        return value

    @field_validator("background")
    @classmethod
    def _no_background(cls, value: bool | None) -> bool | None:
        if value:
            raise PydanticCustomError(
                "stateless",
                "background responses need a stored response to poll, and " + _STATELESS,
            )
        return value

    def forward_payload(self) -> dict[str, Any]:
        """What the client set, with ``store`` false: the engine keeps nothing either."""
        payload = super().forward_payload()
        payload["store"] = False
        return payload
