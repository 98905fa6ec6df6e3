"""``GET /v1/models`` and ``GET /v1/models/{model}``: the models a tenant may reach, each with
the card its engines report.

A model is listed when the tenant may use it and a pool in its jurisdictions serves it
(``gateway.residency``); any other id is a 404 ``model_not_found``, whether nobody serves it
or the tenant may not reach it (as OpenAI answers: an id the tenant cannot use does not exist
for it). A card is vLLM's own, as the engine monitor last read it from an engine the tenant
may reach (``max_model_len``, ``root``, ``parent``, ``permission``, ``owned_by``, ``created``,
and whatever else the engine says), under the gateway's ``id`` and ``object``. Two things are
the gateway's: ``max_model_len`` is the context admission enforces (a pool's configured one
wins over the engines'), and a model no engine has reported yet gets a card of the same
fields with the gateway's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter

from gateway.errors import ModelNotFound
from gateway.residency import candidate_engines, reachable_models
from gateway.resources import PrincipalDep, Resources, ResourcesDep
from gateway.topology import Engine, Tenant

router = APIRouter()

# Before any engine reported the model: no date of ours to give it, and no engine's paths.
_UNREPORTED: dict[str, Any] = {
    "created": 0,
    "owned_by": "sovereign-gateway",
    "root": None,
    "parent": None,
    "max_model_len": None,
    "permission": [],
}


@router.get("/v1/models")
async def list_models(principal: PrincipalDep, resources: ResourcesDep) -> dict[str, Any]:
    """The models this tenant may reach: allowed to it and served in its jurisdictions."""
    tenant = principal.tenant
    models = reachable_models(tenant, resources.topology)
    return {"object": "list", "data": [_card(resources, tenant, m) for m in models]}


@router.get("/v1/models/{model:path}")
async def retrieve_model(
    model: str, principal: PrincipalDep, resources: ResourcesDep
) -> dict[str, Any]:
    """One model's card, if this tenant may reach it; else 404 ``model_not_found``."""
    tenant = principal.tenant
    if model not in reachable_models(tenant, resources.topology):
        raise ModelNotFound(
            f"The model '{model}' does not exist or you do not have access to it.",
            param="model",
        )
    return _card(resources, tenant, model)


def _card(resources: Resources, tenant: Tenant, model: str) -> dict[str, Any]:
    engines = candidate_engines(tenant, model, resources.topology)
    return model_card(model, engines, resources.router.monitor.card(model, engines))


def model_card(
    model: str, engines: Sequence[Engine], reported: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The card of ``model`` as served by ``engines`` (the tenant's), from the card an engine
    ``reported`` (None: none has yet)."""
    fields = reported if reported is not None else _UNREPORTED
    card: dict[str, Any] = {"id": model, "object": "model"}
    card.update((k, v) for k, v in fields.items() if k not in card)
    configured = [length for e in engines if (length := e.pool.max_model_len)]
    if configured:
        card["max_model_len"] = max(configured)
    return card
