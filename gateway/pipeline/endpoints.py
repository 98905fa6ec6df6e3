"""The inference endpoints the pipeline serves, and what differs between them."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.openai.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    OpenAIRequest,
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str  # e.g. "/v1/chat/completions"
    name: str  # in records, metrics and spans: "chat.completions"
    schema: type[OpenAIRequest]
    generates: bool  # answers with generated text (streams, completion tokens)


CHAT = Endpoint("/v1/chat/completions", "chat.completions", ChatCompletionRequest, True)
COMPLETIONS = Endpoint("/v1/completions", "completions", CompletionRequest, True)
EMBEDDINGS = Endpoint("/v1/embeddings", "embeddings", EmbeddingRequest, False)
ENDPOINTS = (CHAT, COMPLETIONS, EMBEDDINGS)
