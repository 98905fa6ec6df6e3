"""A prompt through its tenant's policy: analyse, then block, route, mask or pseudonymise.

The order matters: the conversation is identified and values are read from the prompt as
the client sent it; blocking happens before anything is stored; placeholders come from the
shared vault in one round trip for all values of the request; only then is the payload
rewritten in place.
"""

from __future__ import annotations

import secrets
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
from gateway.privacy.fields import request_texts
from gateway.topology import Tenant
from policies.decide import Decision, Finding, counts, decide, mask_token, rewrite
from policies.model import Action, Direction, Policy
from policies.pseudonym.stable import stable_pseudonym
from policies.pseudonym.surrogate import surrogate
from policies.pseudonym.vault import PseudonymVault, VaultUnavailable
from policies.spans import Span

log = structlog.get_logger("gateway.privacy")


EMBEDDINGS = "/v1/embeddings"


class PromptFilter:
    def __init__(
        self,
        catalogue: PolicyCatalogue,
        analysis: AnalysisService,
        vault: PseudonymVault,
        stable_key: bytes | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.analysis = analysis
        self.vault = vault
        # The key of stable pseudonyms (embeddings): the vault's key, so every replica and
        # every restart agrees; a process of its own without one (quick mode) makes one.
        self._stable_key = stable_key if stable_key is not None else secrets.token_bytes(32)

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
        # Every field the request would send: analysed, or refused here (400).
        fields = request_texts(payload, path, policy.passthrough_fields)
        slots = fields.slots
        texts = slots_of.read(slots)
        names = [joined for _, joined in fields.names]
        self.analysis.check_request(texts, path)  # too much to analyse: 400, nothing charged
        options = policy.analyzer
        try:
            found = await self.analysis.analyze([*texts, *names], policy, tenant=tenant.id)
        except PolicyUnavailable:
            if options.on_error != "fail_open":
                raise
            _degraded(policy, tenant, "analyzer")
            return Applied(policy, "degraded", tenant=tenant.id)
        found, in_names = found[: len(texts)], found[len(texts) :]
        decisions = [decide(spans, policy, Direction.PROMPT) for spans in found]
        if not policy.shadow:
            _refuse_names(policy, fields.names, in_names)
        applied = Applied(
            policy, "shadow" if policy.shadow else "enforce", counts(decisions), tenant=tenant.id
        )
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
        keyed = policy.embedding_pseudonyms
        if pseudo and path == EMBEDDINGS and keyed != "conversation":
            name_of = surrogate if keyed == "surrogate" else stable_pseudonym
            for i, f in pseudo:
                value = f.span.text_of(texts[i])
                names[(i, f)] = name_of(self._stable_key, tenant.id, f.span.entity, value)
            pseudo = []  # nothing to restore in a vector: the vault is not asked
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


def _refuse_names(
    policy: Policy, names: Sequence[tuple[str, str]], found: Sequence[Sequence[Span]]
) -> None:
    """A field name (a schema's property, a metadata key) that holds something the policy
    would change or block: refused, since renaming it would change the request's meaning."""
    for (path, _), spans in zip(names, found, strict=True):
        decision = decide(list(spans), policy, Direction.PROMPT)
        acting = sorted({f.span.entity for f in decision.to_rewrite()} | decision.blocked)
        if acting:
            raise PolicyBlocked(
                f"A field name inside '{path}' contains data your policy ({policy.id}) does "
                f"not allow to be sent as it is: {', '.join(acting)}. Rename the field.",
                param=path,
            )


def _count(applied: Applied) -> None:
    for (entity, action), n in applied.prompt.items():
        POLICY_ACTIONS.labels("prompt", entity, action, applied.mode).inc(n)


def _degraded(policy: Policy, tenant: Tenant, part: str) -> None:
    POLICY_DEGRADED.labels(tenant.id, part).inc()
    log.warning(
        "privacy.degraded", tenant=tenant.id, policy=policy.label, failed=part, mode="fail_open"
    )
