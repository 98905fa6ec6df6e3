from __future__ import annotations

from typing import Literal

from pydantic import Field

from gateway.openai.common import OpenAIRequest


class EmbeddingRequest(OpenAIRequest):
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(None, ge=1)
    user: str | None = Field(None, max_length=256)
