"""A prompt through its tenant's policy: analyse, then block, route, mask or pseudonymise.

The order matters: the conversation is identified and values are read from the prompt as
the client sent it; blocking happens before anything is stored; placeholders come from the
shared vault in one round trip for all values of the request; only then is the payload
rewritten in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from gateway.errors import PolicyBlocked, PolicyUnavailable
from gateway.metrics import POLICY_ACTIONS, POLICY_DEGRADED
from gateway.privacy import texts as slots_of
from gateway.privacy.analysis import AnalysisService
from gateway.privacy.applied import Applied
from gateway.privacy.catalogue import PolicyCatalogue
from gateway.privacy.conversation import conversation_id
from gateway.topology import Tenant
from policies.decide import Decision, Finding, counts, decide, mask_token, rewrite
from policies.model import Action, Direction, Policy
from policies.pseudonym.vault import PseudonymVault, VaultUnavailable

log = structlog.get_logger("gateway.privacy")


class PromptFilter:
    def __init__(
        self, catalogue: PolicyCatalogue, analysis: AnalysisService, vault: PseudonymVault
    ) -> None:
        self.catalogue = catalogue
        self.analysis = analysis
        self.vault = vault

    async def apply(
        self,
        tenant: Tenant,
        path: str,
        payload: dict[str, Any],
        conversation: str | None,
        subject_ref: str | None = None,
    ) -> Applied | None:
        """Rewrites ``payload`` in place; None when no policy applies to the tenant. The
        vault files the conversation under ``subject_ref`` (erasure finds it there)."""
        policy = self.catalogue.for_tenant(tenant)
        if policy is None:
            return None
        slots = slots_of.request_slots(payload, path)
        texts = slots_of.read(slots)
        options = policy.analyzer
        try:
            found = await self.analysis.analyze(texts, policy)
        except PolicyUnavailable:
            if options.on_error != "fail_open":
                raise
            _degraded(policy, tenant, "analyzer")
            return Applied(policy, "degraded")
        decisions = [decide(spans, policy, Direction.PROMPT) for spans in found]
        applied = Applied(policy, "shadow" if policy.shadow else "enforce", counts(decisions))
        _count(applied)
        if policy.shadow:
            return applied
        blocked = sorted(frozenset().union(*(d.blocked for d in decisions)))
        if blocked:
            raise PolicyBlocked(
                f"Your request contains data that your policy ({policy.id}) does not allow to "
                f"be sent: {', '.join(blocked)}. Remove it and send the request again."
            )
        applied.route_classes = frozenset().union(*(d.route_classes for d in decisions))
        replacements = await self._replacements(
            tenant, policy, texts, decisions, payload, path, conversation, applied, subject_ref
        )
        if any(replacements):
            rewritten = [rewrite(t, r) for t, r in zip(texts, replacements, strict=True)]
            slots_of.write(slots, rewritten)
        return applied

    async def _replacements(
        self,
        tenant: Tenant,
        policy: Policy,
        texts: Sequence[str],
        decisions: Sequence[Decision],
        payload: dict[str, Any],
        path: str,
        conversation: str | None,
        applied: Applied,
        subject_ref: str | None,
    ) -> list[list[tuple[Any, str]]]:
        todo = [(i, f) for i, d in enumerate(decisions) for f in d.to_rewrite()]
        pseudo = [(i, f) for i, f in todo if f.action is Action.PSEUDONYMIZE]
        names: dict[tuple[int, Finding], str] = {}
        if pseudo:
            items = [(f.span.entity, f.span.text_of(texts[i])) for i, f in pseudo]
            try:
                placeholders = await self.vault.assign(
                    tenant.id,
                    conversation_id(conversation, payload, path),
                    items,
                    subject_ref=subject_ref,
                )
            except VaultUnavailable as exc:
                if policy.analyzer.on_error != "fail_open":
                    raise PolicyUnavailable(
                        "The pseudonym vault is unreachable; the request was not sent."
                    ) from exc
                # Fail open degrades pseudonymisation to masking: still nothing leaves.
                _degraded(policy, tenant, "vault")
                placeholders = [mask_token(entity) for entity, _ in items]
            for (i, f), (_, value), placeholder in zip(pseudo, items, placeholders, strict=True):
                names[(i, f)] = placeholder
                if placeholder.startswith("<") and placeholder[-2:-1].isdigit():
                    applied.mapping.setdefault(placeholder, value)
        out: list[list[tuple[Any, str]]] = [[] for _ in texts]
        for i, f in todo:
            out[i].append((f.span, names.get((i, f), mask_token(f.span.entity))))
        return out


def _count(applied: Applied) -> None:
    for (entity, action), n in applied.prompt.items():
        POLICY_ACTIONS.labels("prompt", entity, action, applied.mode).inc(n)


def _degraded(policy: Policy, tenant: Tenant, part: str) -> None:
    POLICY_DEGRADED.labels(tenant.id, part).inc()
    log.warning(
        "privacy.degraded", tenant=tenant.id, policy=policy.label, failed=part, mode="fail_open"
    )
