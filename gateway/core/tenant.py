"""A tenant: its one specification, its runtime form, and who is calling on its behalf.

``TenantSpec`` is the only place a tenant's fields are declared. The YAML configuration
(``TenantSettings``: the spec plus its bootstrap keys), the stored record (``TenantRecord``:
plus its timestamps) and the admin API's bodies (``TenantCreate`` is the spec;
``TenantUpdate`` is every field of it but ``id``, optional) all derive from it, so a field added
here is configurable, stored and administrable at once. ``Tenant`` is what the request path
reads: the same facts, compiled (sets for membership tests), immutable, built from a spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from gateway.core.limits import UNLIMITED, Limits, Scope
from gateway.core.names import (
    DegradedMode,
    DisconnectMode,
    Identifier,
    Jurisdiction,
    ModelName,
    PolicyName,
)


class AiDisclosure(BaseModel):
    """The deployer's disclosure (EU AI Act Art. 50(1)), applied on a conversation's first
    turn (``gateway/disclosure/``): ``first_answer`` puts the notice in front of the answer's
    text (the header ``x-sovereign-ai-disclosure`` where text cannot go: JSON, tool calls);
    ``system_prompt`` tells the model to begin with it (whether it does depends on the
    model). ``text`` overrides the default notice in ``language``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["off", "first_answer", "system_prompt"] = "off"
    language: Literal["de", "en"] = "de"
    text: str | None = Field(None, min_length=1, max_length=500)


NO_DISCLOSURE = AiDisclosure()


class TenantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    allowed_jurisdictions: list[Jurisdiction] = Field(default_factory=lambda: ["DE"], min_length=1)
    # Model names this tenant may use; "*" means every model served in its jurisdictions. An
    # empty list is refused rather than read as "all".
    allowed_models: list[ModelName] = Field(default_factory=lambda: ["*"], min_length=1)
    limits: Limits = Limits()
    # While Redis is unreachable: refuse with 503 (fail_closed) or serve under this
    # replica's local limits (fail_open). Chosen per tenant, never silently.
    degraded_mode: DegradedMode = "fail_closed"
    # The GDPR policy applied to this tenant's requests (a preset in policies/presets or a
    # file in privacy.policy_files); unset: privacy.default_policy.
    policy: PolicyName | None = None
    # Sites to prefer, in order, among those its jurisdictions allow (e.g. its own site).
    preferred_sites: list[Identifier] = Field(default_factory=list)
    # Audit content and content logs are deleted after this many days (None: the default).
    retention_days: int | None = Field(None, ge=1)
    # Responses carry the EU AI Act Art. 50 marker that the content is AI-generated.
    ai_act_marker: bool = False
    # People are told they talk to an AI (EU AI Act Art. 50(1)): see AiDisclosure.
    ai_disclosure: AiDisclosure = NO_DISCLOSURE
    # A client that leaves before its answer is complete: "abort" stops the engine at once,
    # "finish" lets it complete for nobody (metered exactly). None: metering.on_client_disconnect.
    on_client_disconnect: DisconnectMode | None = None
    # Issuers (``identity.issuers[].name``) whose bearer JWTs this tenant accepts beside its
    # API keys; empty: API keys only.
    jwt_issuers: list[Identifier] = Field(default_factory=list)
    # Answers carry a signed provenance token (EU AI Act Art. 50(2); gateway/provenance):
    # None: provenance.default. A policy with require_provenance signs them whatever this says.
    provenance: Literal["off", "on"] | None = None
    # Every answer carries the text watermark where its pool lets requests ask for it
    # (pools[].watermark "client"), as if each request asked; "on" pools mark all, "off" none.
    watermark: bool = False

    def runtime(self) -> Tenant:
        models = None if "*" in self.allowed_models else frozenset(self.allowed_models)
        return Tenant(
            self.id,
            frozenset(self.allowed_jurisdictions),
            models,
            self.limits,
            self.degraded_mode,
            self.policy,
            tuple(self.preferred_sites),
            self.ai_act_marker,
            self.retention_days,
            self.on_client_disconnect,
            frozenset(self.jwt_issuers),
            self.ai_disclosure,
            provenance=self.provenance,
            watermark=self.watermark,
        )


def partial_of(model: type[BaseModel], name: str, base: type[BaseModel]) -> type[BaseModel]:
    """``model``'s fields but ``id``, each optional (None: unchanged), constraints kept."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        if field_name == "id":
            continue
        kind: Any = info.annotation
        if info.metadata:
            kind = Annotated[kind, *info.metadata]
        fields[field_name] = (kind | None, None)
    made: type[BaseModel] = create_model(name, __base__=base, **fields)
    return made


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    allowed_jurisdictions: frozenset[str]
    allowed_models: frozenset[str] | None  # None: every model in its jurisdictions
    limits: Limits = UNLIMITED
    degraded_mode: str = "fail_closed"  # or "fail_open"; see TenantSpec
    policy: str | None = None  # None: the gateway's default policy
    preferred_sites: tuple[str, ...] = ()  # routing tries these sites first, in order
    ai_act_marker: bool = False  # answers say they are AI-generated (EU AI Act Art. 50)
    retention_days: int | None = None  # audit content and content logs; None: the default
    on_client_disconnect: str | None = None  # "abort" or "finish"; None: the gateway's default
    jwt_issuers: frozenset[str] = frozenset()  # issuers whose bearer JWTs it accepts
    ai_disclosure: AiDisclosure = NO_DISCLOSURE  # EU AI Act Art. 50(1); see AiDisclosure
    provenance: str | None = None  # "on", "off"; None: the gateway's default (TenantSpec)
    watermark: bool = False  # marked on "client" pools without asking (TenantSpec)

    def may_use(self, model: str) -> bool:
        return self.allowed_models is None or model in self.allowed_models


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the tenant and which of its keys was used (never the key), or which
    issuer's bearer JWT (``key_id`` "jwt:<issuer name>") and for whom."""

    tenant: Tenant
    key_id: str
    # The limits this request is admitted against: the tenant's, the key's if it has any, and
    # a token's end user's (``user:<subject ref>``) if the issuer sets per-user limits.
    scopes: tuple[Scope, ...] = field(default=())
    expires_at: float | None = None  # a rotated key's grace period ends here
    # A bearer JWT's subject: the request's data subject (authenticated, so it wins over the
    # ``user`` field). In memory only: records, logs and Redis keys get its keyed reference.
    subject: str | None = field(default=None, repr=False)
