"""Pure residency decisions: which engines may serve this tenant's request for this model.

No I/O and no clock. The rule is fail-closed: an engine is a candidate only if its pool serves
the model *and* its pool's jurisdiction is one the tenant allows. Nothing downstream (engine
choice, failover) ever sees an engine outside this list.
"""

from __future__ import annotations

from gateway.errors import ModelNotFound, ResidencyViolation
from gateway.topology import Engine, Tenant, Topology


def reachable_models(tenant: Tenant, topology: Topology) -> list[str]:
    """The models this tenant may use and that some pool in its jurisdictions serves."""
    models = {
        model
        for pool in topology.pools
        if pool.jurisdiction in tenant.allowed_jurisdictions
        for model in pool.models
        if tenant.may_use(model)
    }
    return sorted(models)


def candidate_engines(tenant: Tenant, model: str, topology: Topology) -> tuple[Engine, ...]:
    """Engines that may serve ``model`` for ``tenant``; raises if there are none.

    404 when the tenant may not use the model or no pool serves it (as OpenAI answers for a
    model you cannot access); 403 when the model exists only outside the tenant's
    jurisdictions: the request is refused, never sent elsewhere.
    """
    if not tenant.may_use(model) or model not in topology.served_models():
        raise ModelNotFound(
            f"The model '{model}' does not exist or you do not have access to it.",
            param="model",
        )
    allowed = tuple(
        engine
        for engine in topology.engines
        if model in engine.pool.models and engine.pool.jurisdiction in tenant.allowed_jurisdictions
    )
    if not allowed:
        jurisdictions = ", ".join(sorted(tenant.allowed_jurisdictions))
        raise ResidencyViolation(
            f"The model '{model}' is not served in your allowed jurisdictions ({jurisdictions}); "
            "the request was not sent to any engine.",
            param="model",
        )
    return allowed


def is_allowed(tenant: Tenant, engine: Engine) -> bool:
    return engine.pool.jurisdiction in tenant.allowed_jurisdictions
