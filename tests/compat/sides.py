"""The three sides every row runs on: the engines directly, and the gateway for a tenant with
no policy and for one with gdpr-default."""

from __future__ import annotations

from dataclasses import dataclass

DIRECT, NONE, GDPR = "direct", "gateway-none", "gateway-gdpr"
SIDES = (DIRECT, NONE, GDPR)
CHAT_MODEL = "smollm2"


@dataclass(frozen=True)
class Side:
    name: str
    chat_url: str  # the root URL (no /v1) that serves the chat model
    embeddings_url: str  # ... and the embeddings model
    key: str
    embeddings_model: str

    @property
    def through_gateway(self) -> bool:
        return self.name != DIRECT
