"""Policies as code: the pydantic model of a policy file, and its content-hash version.

A policy says, per entity type (or group, see ``policies.entities.GROUPS``) and per direction,
what happens to what the analyzer found::

    id: gdpr-default
    entities:
      PERSON:  {prompt: pseudonymize, response: allow}
      SECRET:  {prompt: block, response: mask}
      special_category: {prompt: route, route_to: special-category, response: flag}

Actions: ``allow`` (nothing), ``flag`` (record only), ``mask`` (irreversible ``<TYPE>``),
``pseudonymize`` (reversible placeholder, restored in the answer; prompts only), ``block``
(refuse the request), ``route`` (only to pools carrying the ``route_to`` data class; prompts
only). ``shadow: true`` decides and records everything but changes nothing.

The version is a hash of the policy's canonical content, so two replicas running the same
file agree on it, and any edit, however small, is a new version in the ledger.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from policies import entities

PolicyId = str


class Action(StrEnum):
    ALLOW = "allow"
    FLAG = "flag"
    MASK = "mask"
    PSEUDONYMIZE = "pseudonymize"
    BLOCK = "block"
    ROUTE = "route"


# Stronger first: when one span falls under several rules, the strictest applies.
SEVERITY = (Action.BLOCK, Action.ROUTE, Action.PSEUDONYMIZE, Action.MASK, Action.FLAG, Action.ALLOW)


class Direction(StrEnum):
    PROMPT = "prompt"
    RESPONSE = "response"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntityRule(_Strict):
    prompt: Action = Action.FLAG
    response: Action = Action.FLAG
    # The data class a pool must carry to receive prompts this rule routes.
    route_to: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")

    @model_validator(mode="after")
    def _coherent(self) -> EntityRule:
        if self.response in (Action.PSEUDONYMIZE, Action.ROUTE):
            raise ValueError(
                f"'{self.response}' applies to prompts only: an answer has already been "
                "generated where it was generated"
            )
        if (self.prompt is Action.ROUTE) != (self.route_to is not None):
            raise ValueError("'route' needs 'route_to' (a pool data class), and only 'route' does")
        return self

    def action(self, direction: Direction) -> Action:
        return self.prompt if direction is Direction.PROMPT else self.response


class AnalyzerOptions(_Strict):
    score_threshold: float = Field(0.5, ge=0, le=1)
    # Analysis of one request (all its texts) must finish in this time ...
    timeout_ms: int = Field(500, ge=1, le=60_000)
    # ... or the request is refused (fail_closed) or passed unfiltered and flagged (fail_open).
    on_error: Literal["fail_closed", "fail_open"] = "fail_closed"


class Policy(_Strict):
    id: PolicyId = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    description: str = ""
    shadow: bool = False
    analyzer: AnalyzerOptions = AnalyzerOptions()
    # For entity types no rule names.
    default: EntityRule = EntityRule()
    entities: dict[str, EntityRule] = Field(default_factory=dict)
    # Content logging, off unless a policy asks: the prompt as sent to the engine and the
    # answer as the engine wrote it, with every entity the analyzer finds (of any type, in
    # any rule) replaced by <TYPE> and placeholders kept, into the content log sink, kept for
    # the tenant's retention and erased with its data subject.
    log_content: bool = False
    # Request fields sent to the engine as they are, unanalysed (gateway/privacy/fields.py):
    # every other field the gateway does not know is refused. Dotted paths, list items "*"
    # ("metadata", "messages.*.content.*.image_url"). Part of the version, like any rule.
    passthrough_fields: tuple[str, ...] = ()
    # What a pseudonymised value becomes in an embeddings request. "conversation": a
    # placeholder numbered per conversation, as on chat (<PERSON_1>): two invoices that
    # differ only in name and IBAN become the same text, hence the same vector. "stable": a
    # keyed pseudonym of the value's own (<PERSON_402917385160>), the same for this tenant in
    # every request and different for every other value, so vectors keep the distinctions
    # names and identifiers carry; nothing is stored and nothing is restored
    # (policies/pseudonym/stable.py). "surrogate": a keyed value of the same kind instead
    # (a person another person's name, an IBAN another valid IBAN), so that a query naming
    # a person finds that person's texts (policies/pseudonym/surrogate.py); other types keep
    # their stable pseudonym. Part of the version unless "conversation".
    embedding_pseudonyms: Literal["conversation", "stable", "surrogate"] = "conversation"
    # Every answer under this policy carries a signed provenance token (EU AI Act Art.
    # 50(2); gateway/provenance), whatever its tenant chose. Part of the version if true.
    require_provenance: bool = False

    @field_validator("passthrough_fields")
    @classmethod
    def _sorted_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(value)))  # one canonical form: the version must not vary

    @field_validator("entities")
    @classmethod
    def _known_names(cls, value: dict[str, EntityRule]) -> dict[str, EntityRule]:
        unknown = sorted(set(value) - entities.ALL - set(entities.GROUPS))
        if unknown:
            known = ", ".join(sorted(entities.ALL | set(entities.GROUPS)))
            raise ValueError(f"unknown entity types {unknown}; known: {known}")
        return value

    @cached_property
    def version(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical content (stable across runs)."""
        content = self.model_dump(mode="json")
        # Added later: policies that do not use them keep their version.
        if not self.passthrough_fields:
            del content["passthrough_fields"]
        if self.embedding_pseudonyms == "conversation":
            del content["embedding_pseudonyms"]
        if not self.require_provenance:
            del content["require_provenance"]
        canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()[:16]

    @cached_property
    def rules(self) -> dict[str, EntityRule]:
        """The rule for every entity type: a type's own rule wins over its group's."""
        resolved = {name: self.default for name in entities.ALL}
        for name, rule in self.entities.items():
            for member in entities.GROUPS.get(name, ()):
                resolved[member] = rule
        for name, rule in self.entities.items():
            if name not in entities.GROUPS:
                resolved[name] = rule
        return resolved

    def rule(self, entity: str) -> EntityRule:
        return self.rules.get(entity, self.default)

    @cached_property
    def detected(self) -> frozenset[str]:
        """Entity types worth detecting: those with an action other than ``allow``."""
        return self.analysed_entities()

    def analysed_entities(self) -> frozenset[str]:
        """Entity types worth detecting: those with an action other than ``allow``."""
        return frozenset(
            name
            for name, rule in self.rules.items()
            if rule.prompt is not Action.ALLOW or rule.response is not Action.ALLOW
        )

    @property
    def label(self) -> str:
        return f"{self.id}@{self.version}"


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a policy is a YAML mapping")
    return Policy.model_validate(data)


def load_policy_file(path: Path) -> Policy:
    return parse_policy(path.read_text(encoding="utf-8"), str(path))


def preset_names() -> list[str]:
    folder = resources.files("policies") / "presets"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def load_preset(name: str) -> Policy:
    file = resources.files("policies") / "presets" / f"{name}.yaml"
    if not file.is_file():
        raise ValueError(f"no policy preset '{name}'; presets: {', '.join(preset_names())}")
    policy = parse_policy(file.read_text(encoding="utf-8"), f"preset {name}")
    if policy.id != name:
        raise ValueError(f"preset file {name}.yaml declares id '{policy.id}'")
    return policy
