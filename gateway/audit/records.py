"""What the audit trail records: one entry per request, one per admin action.

A record has two parts. The *fixed* part (who served what, where, under which policy, what
was detected and done: types and counts, never values) is hashed into the chain and stays
for the tenant's retention period. The *erasable* part is what can point at a data subject:
``subject_ref`` (an HMAC of the OpenAI ``user`` value or the subject header, never the value)
and ``content`` (text, present only when a tenant turned content logging on, already masked
by its policy). The chain holds a salted commitment to it, so it can be erased under GDPR
Art. 17 without breaking verification (see ``gateway.audit.chain``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from gateway.core.usage import UsageRecord
from gateway.errors import GatewayError

# The names of the erasable fields, shared by every record kind.
ERASABLE_FIELDS = frozenset({"subject_ref", "content"})
# Facts about an admin action (counts, cut-offs, receipt digests); never key material.
Detail = str | int | float | bool | None


class AuditUnavailable(GatewayError):
    """The audit store could not be written or read (PostgreSQL down, disk full)."""

    status_code = 503
    default_code = "audit_unavailable"


class _Record(BaseModel):
    # NaN would serialise as null and no longer verify: refuse it at the door.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    at: float  # unix seconds: when the record was made
    subject_ref: str | None = None
    content: dict[str, str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """PostgreSQL text and jsonb refuse U+0000, and a client can send it (in a model name,
        in content): it becomes U+FFFD before anything is hashed, in every store alike."""
        return _without_nul(data)

    def erasable(self) -> dict[str, object] | None:
        """The erasable fields, or None when the record has none."""
        if self.subject_ref is None and self.content is None:
            return None
        return {"subject_ref": self.subject_ref, "content": self.content}


class RequestAudit(_Record):
    """The residency record of one request: which gateway, pool, engine, site and
    jurisdiction served it, under which policy, and what the policy found and did."""

    kind: Literal["request"] = "request"
    tenant: str
    request_id: str
    key_id: str
    gateway: str
    endpoint: str
    model: str
    pool: str
    site: str
    jurisdiction: str
    engine: str
    status: str
    http_status: int
    policy: str | None = None  # "id@version"
    policy_mode: str | None = None
    pii: str | None = None  # "prompt:PERSON:pseudonymize=1,...": types, actions, counts
    started_at: float
    duration_ms: float
    prompt_tokens: int
    completion_tokens: int
    # The signed provenance token the answer carried (gateway/provenance): digests and
    # facts, no content. Left out of records without one, so theirs hash as before.
    provenance: str | None = None

    @model_serializer(mode="wrap")
    def _provenance_if_any(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("provenance", "") is None:
            del data["provenance"]
        return data

    @classmethod
    def from_usage(
        cls,
        usage: UsageRecord,
        *,
        at: float,
        subject_ref: str | None = None,
        content: Mapping[str, str] | None = None,
        provenance: str | None = None,
    ) -> RequestAudit:
        """The audit view of a ledger record: the same facts, none of the metering detail."""
        return cls(
            at=at,
            subject_ref=subject_ref,
            content=dict(content) if content is not None else None,
            tenant=usage.tenant,
            request_id=usage.request_id,
            key_id=usage.key_id,
            gateway=usage.gateway,
            endpoint=usage.endpoint,
            model=usage.model,
            pool=usage.pool,
            site=usage.site,
            jurisdiction=usage.jurisdiction,
            engine=usage.engine,
            status=usage.status,
            http_status=usage.http_status,
            policy=usage.policy,
            policy_mode=usage.policy_mode,
            pii=usage.pii,
            started_at=usage.started_at,
            duration_ms=usage.duration_ms,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            provenance=provenance,
        )


class AdminAudit(_Record):
    """One admin action: who did what to which ids, and which fields changed (by name)."""

    kind: Literal["admin"] = "admin"
    # The tenant the action concerns; None for gateway-wide actions, which no tenant's
    # retention removes (policy changes, purges, erasures).
    tenant: str | None = None
    actor: str  # the admin token's id, or "cli"
    action: str  # "tenant.create", "key.issue", "key.revoke", "retention.purge", ...
    target: dict[str, str] = Field(default_factory=dict)  # {"tenant": "acme", "key": "k1"}
    fields: list[str] = Field(default_factory=list)  # names of changed fields, never values
    details: dict[str, Detail] = Field(default_factory=dict)


AuditRecord: TypeAlias = Annotated[RequestAudit | AdminAudit, Field(discriminator="kind")]


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value
