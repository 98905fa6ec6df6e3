"""The policy engine's resources, built once in the lifespan: catalogue, analyzer, vault."""

from __future__ import annotations

import asyncio
import base64
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from gateway.core.text import capped
from gateway.errors import PolicyUnavailable
from gateway.privacy.analysis import AnalysisLimits, AnalysisService
from gateway.privacy.catalogue import PolicyCatalogue
from gateway.privacy.prompt import PromptFilter
from gateway.settings import Settings
from gateway.topology import Tenant
from policies.decide import mask_token, rewrite
from policies.pseudonym.redis_vault import RedisPseudonymVault
from policies.pseudonym.vault import MemoryPseudonymVault, PseudonymVault


@dataclass(frozen=True, slots=True)
class Privacy:
    catalogue: PolicyCatalogue
    analysis: AnalysisService
    prompts: PromptFilter

    async def client_string(self, text: str, tenant: Tenant) -> str:
        """A client's free string (a model name nobody serves) as logs, traces and the audit
        keep it: capped, and everything the analyzer finds in it masked, whatever the
        tenant's policy does with its prompts (logs are the operator's, and hold no personal
        data). If the analysis fails, the string is withheld."""
        short = capped(text)
        policy = self.catalogue.for_tenant(tenant) or self.catalogue.get(_LOG_POLICY)
        try:
            (spans,) = await self.analysis.analyze([short], policy, tenant=tenant.id)
        except PolicyUnavailable:
            return "<withheld>"
        return rewrite(short, [(span, mask_token(span.entity)) for span in spans])

    def close(self) -> None:
        self.analysis.close()


# The policy whose entity types are masked in a client's strings when its tenant has none.
_LOG_POLICY = "gdpr-default"


def vault_key(settings: Settings, shared: bool) -> bytes:
    secret = settings.security.pseudonym_key
    if secret is None:
        if shared:
            raise ValueError(
                "security.pseudonym_key is required with a shared store: every replica must "
                "use the same vault key (make one with `sovereign-gateway keys vault`)"
            )
        return secrets.token_bytes(32)  # one process, one key: nothing outlives it
    try:
        key = base64.b64decode(secret.get_secret_value(), validate=True)
    except ValueError as exc:
        raise ValueError("security.pseudonym_key must be base64") from exc
    if len(key) != 32:
        raise ValueError("security.pseudonym_key must be 32 bytes (base64 of 32 random bytes)")
    return key


def check_privacy_settings(settings: Settings) -> PolicyCatalogue:
    """Everything that can be wrong in the configuration, found before the server starts."""
    catalogue = PolicyCatalogue.from_settings(settings)
    if catalogue.uses("pseudonymize"):
        vault_key(settings, settings.store.redis_url is not None)
    return catalogue


async def build_privacy(settings: Settings, redis: Redis | RedisCluster | None) -> Privacy:
    catalogue = PolicyCatalogue.from_settings(settings)
    vault: PseudonymVault
    key = vault_key(settings, redis is not None)
    ttl = settings.privacy.vault_ttl_seconds
    vault = MemoryPseudonymVault(ttl) if redis is None else RedisPseudonymVault(redis, key, ttl)
    from policies.analyzer import build_analyzer  # Presidio and spaCy: loaded here, not on import

    analyzer = await asyncio.to_thread(build_analyzer)
    options = settings.privacy
    limits = AnalysisLimits(options.max_analysed_chars, options.max_analysed_items)
    analysis = AnalysisService(
        analyzer,
        options.analysis_threads,
        limits=limits,
        scheduling=options.analysis_scheduling,
        inline_chars=options.inline_analysis_chars,
    )
    return Privacy(catalogue, analysis, PromptFilter(catalogue, analysis, vault, key))
