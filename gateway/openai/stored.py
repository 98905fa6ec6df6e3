"""The Responses API's routes for stored responses, answered for what they are here.

The gateway serves ``/v1/responses`` stateless (``responses.py``: ``store`` is always sent
as false, so no engine keeps a response outside the tenant's retention and erasure). The
SDK's ``responses.retrieve``, ``delete``, ``cancel`` and ``input_items.list`` therefore find
nothing; they get a 404 ``response_not_stored`` that says so, after authentication, rather
than the bare 404 of an unknown URL.
"""

from __future__ import annotations

from fastapi import APIRouter

from gateway.errors import NotFound
from gateway.resources import PrincipalDep

router = APIRouter()


class ResponseNotStored(NotFound):
    default_code = "response_not_stored"


def _not_stored(response_id: str) -> ResponseNotStored:
    return ResponseNotStored(
        f"No response '{response_id}': this gateway does not store responses (every "
        "/v1/responses request is sent with store=false, so nothing outside your "
        "jurisdiction's retention and erasure keeps it). Send the conversation as input "
        "items instead of retrieving or continuing a stored response."
    )


@router.get("/v1/responses/{response_id}", include_in_schema=False)
async def retrieve(response_id: str, principal: PrincipalDep) -> None:
    raise _not_stored(response_id)


@router.delete("/v1/responses/{response_id}", include_in_schema=False)
async def delete(response_id: str, principal: PrincipalDep) -> None:
    raise _not_stored(response_id)


@router.post("/v1/responses/{response_id}/cancel", include_in_schema=False)
async def cancel(response_id: str, principal: PrincipalDep) -> None:
    raise _not_stored(response_id)


@router.get("/v1/responses/{response_id}/input_items", include_in_schema=False)
async def input_items(response_id: str, principal: PrincipalDep) -> None:
    raise _not_stored(response_id)
