"""Policy: the tenant's GDPR policy on every text the request would send (block, route,
mask, pseudonymise; refuse what it cannot check), then only the pools cleared for the data
classes it routes to."""

from __future__ import annotations

from gateway.core.topology import Engine
from gateway.errors import NoPoolForDataClass
from gateway.pipeline.context import RequestContext
from gateway.privacy.applied import Applied
from gateway.privacy.service import Privacy


class ApplyPolicy:
    def __init__(self, privacy: Privacy) -> None:
        self._prompts = privacy.prompts

    async def __call__(self, ctx: RequestContext) -> None:
        ctx.applied = await self._prompts.apply(
            ctx.tenant, ctx.endpoint.path, ctx.payload, ctx.hints.conversation, ctx.subject_ref
        )
        ctx.candidates = cleared(ctx.candidates, ctx.applied)


def cleared(candidates: tuple[Engine, ...], applied: Applied | None) -> tuple[Engine, ...]:
    """Only pools carrying every data class the policy routes this prompt to (still in the
    tenant's jurisdictions: the candidates already are)."""
    if applied is None or not applied.route_classes:
        return candidates
    needed = applied.route_classes
    found = tuple(e for e in candidates if needed <= e.pool.data_classes)
    if not found:
        raise NoPoolForDataClass(
            f"Your policy ({applied.policy.id}) sends this request only to pools cleared for "
            f"{', '.join(sorted(needed))}, and none serving this model is in your "
            "jurisdictions. The request was not sent.",
            param="model",
        )
    return found
