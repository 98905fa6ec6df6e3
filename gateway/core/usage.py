"""What a request used: the engine's report, and the one ledger record of each request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["ok", "aborted", "failed", "orphaned"]
UsageSource = Literal["engine", "estimate"]


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


class UsageRecord(BaseModel):
    """One ledger record per metered request. Counts and routing facts only, never content."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    tenant: str
    key_id: str
    endpoint: str  # "chat.completions", "completions", "embeddings", "tokenize", ...
    model: str
    pool: str
    site: str
    jurisdiction: str
    engine: str
    stream: bool
    # ok: the engine finished; aborted: the client left (a stream: the engine's count when it
    # completed, under finish, or at the last chunk read, under abort; a whole answer under
    # abort: the prompt as estimated, no completion tokens; README, "Metering");
    # failed: the engine or the connection failed (what was seen before is counted);
    # orphaned: its replica died before it ended, and another settled its admission with
    # no usage (gateway/quota/pending.py).
    status: Status
    http_status: int
    prompt_tokens: int
    completion_tokens: int
    # engine: the counts are the engine's own usage report; estimate: the engine never
    # reported (it failed mid-way, or was stopped before a whole answer), so the gateway's
    # own count stands in.
    usage_source: UsageSource
    estimated_tokens: int
    started_at: float  # unix seconds
    ttft_ms: float | None
    duration_ms: float
    gateway: str  # which replica served it
    # False when admitted without the shared store (fail-open on local limits).
    admitted_shared: bool = True
    # The GDPR policy applied ("id@version"; None: none applied), its mode, and what it found
    # and did: types, actions and counts ("prompt:PERSON:pseudonymize=1,..."), never values.
    policy: str | None = None
    policy_mode: str | None = None
    pii: str | None = None
    # The data subject (the OpenAI ``user`` value or the subject header) as a keyed HMAC,
    # never the identifier: usage per end user, and what a GDPR Art. 17 erasure removes.
    subject_ref: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def finished_at(self) -> float:
        return self.started_at + self.duration_ms / 1000
