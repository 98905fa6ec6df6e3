"""Fields shared by the OpenAI request schemas.

Schemas check what the gateway must rely on (model, stream flags, types and ranges of common
parameters) and keep every other field (``extra="allow"``), so engine-specific parameters such
as vLLM's ``top_k`` or ``guided_json`` reach the engine unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ModelName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
# What JSON numbers on the way to an engine may be (vLLM parses them into C types).
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
# A token count: whether it fits the model's context is checked against the model itself.
TokenCount = Annotated[int, Field(ge=1, le=2**63 - 1)]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool | None = None


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
