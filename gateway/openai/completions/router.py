from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from gateway.openai.body import StrictJsonRoute
from gateway.openai.completions.schemas import CompletionRequest
from gateway.openai.proxy import proxy
from gateway.resources import (
    HintsDep,
    PrincipalDep,
    RequestIdDep,
    ResourcesDep,
    SettlementDep,
)

router = APIRouter(route_class=StrictJsonRoute)


@router.post("/v1/completions", response_model=None)
async def create_completion(
    body: CompletionRequest,
    principal: PrincipalDep,
    resources: ResourcesDep,
    request_id: RequestIdDep,
    hints: HintsDep,
    settlement: SettlementDep,
) -> Response:
    return await proxy(
        resources,
        principal,
        request_id,
        "/v1/completions",
        body,
        stream=bool(body.stream),
        hints=hints,
        settlement=settlement,
    )
