"""The inference endpoints the pipeline serves, and what differs between them.

Every route here takes the whole request path (``path.py``): authentication, residency, the
tenant's GDPR policy on every text (``gateway/privacy/fields.py`` has a catalogue per path),
limits, metering, audit and telemetry. ``/tokenize`` and ``/detokenize`` are vLLM's own, at
its root as vLLM serves them: the engine runs only its tokenizer, so they are admitted and
metered as requests of zero tokens (``counts_tokens``): the request and concurrency limits
apply, the token limits are charged nothing. ``/v1/responses`` is OpenAI's Responses API,
stateless (``gateway/openai/responses.py``), its stream of typed events shaped by
``gateway/privacy/responses_stream.py``. ``/v1/messages`` is Anthropic's Messages API
(``api="anthropic"``: ``gateway/anthropic/``), its ``/v1/messages/count_tokens`` a
tokenizer route like ``/tokenize``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.anthropic.schemas import CountTokensRequest, MessagesRequest
from gateway.errors import Api
from gateway.openai.responses import ResponsesRequest
from gateway.openai.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    DetokenizeRequest,
    EmbeddingRequest,
    OpenAIRequest,
    TokenizeRequest,
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str  # e.g. "/v1/chat/completions"
    name: str  # in records, metrics and spans: "chat.completions"
    schema: type[OpenAIRequest]
    generates: bool  # answers with generated text (streams, completion tokens)
    summary: str  # in the OpenAPI document
    # False: the engine only runs its tokenizer; a request of zero tokens (no estimate, no
    # usage), under the request and concurrency limits only.
    counts_tokens: bool = True
    # True: the engine takes ``stream_options`` (chat, completions); the Responses API has
    # none and reports its usage in its ``response.completed`` event.
    stream_options: bool = True
    # The API it speaks: its errors' shape, its streams' events, where its key may come from
    # (Anthropic's: ``x-api-key`` too).
    api: Api = "openai"


CHAT = Endpoint(
    "/v1/chat/completions",
    "chat.completions",
    ChatCompletionRequest,
    generates=True,
    summary="Create chat completion",
)
COMPLETIONS = Endpoint(
    "/v1/completions", "completions", CompletionRequest, generates=True, summary="Create completion"
)
EMBEDDINGS = Endpoint(
    "/v1/embeddings", "embeddings", EmbeddingRequest, generates=False, summary="Create embeddings"
)
TOKENIZE = Endpoint(
    "/tokenize",
    "tokenize",
    TokenizeRequest,
    generates=False,
    summary="Tokenize a prompt or a chat",
    counts_tokens=False,
)
DETOKENIZE = Endpoint(
    "/detokenize",
    "detokenize",
    DetokenizeRequest,
    generates=False,
    summary="Detokenize token ids",
    counts_tokens=False,
)
RESPONSES = Endpoint(
    "/v1/responses",
    "responses",
    ResponsesRequest,
    generates=True,
    summary="Create a model response (Responses API, stateless)",
    stream_options=False,
)
# Anthropic's Messages API, as vLLM serves it (``gateway/anthropic/``): usage in its
# message_start and message_delta events, no stream_options.
MESSAGES = Endpoint(
    "/v1/messages",
    "messages",
    MessagesRequest,
    generates=True,
    summary="Create a message (Anthropic Messages API)",
    stream_options=False,
    api="anthropic",
)
# Its token counter: the engine runs its tokenizer only (a request of zero tokens, as
# /tokenize), on the conversation as /v1/messages would send it.
COUNT_TOKENS = Endpoint(
    "/v1/messages/count_tokens",
    "messages.count_tokens",
    CountTokensRequest,
    generates=False,
    summary="Count a message's input tokens (Anthropic Messages API)",
    counts_tokens=False,
    stream_options=False,
    api="anthropic",
)
ENDPOINTS = (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    TOKENIZE,
    DETOKENIZE,
    RESPONSES,
    MESSAGES,
    COUNT_TOKENS,
)
