"""``/v1/files`` and ``/v1/batches``, as the openai SDK calls them. Thin: parse, call the
service (``service.py``), return OpenAI's objects.

The calling key is authenticated as on every route (401 first); the service is the
lifespan's (``request.state.batches``). Uploads are multipart (``file``, ``purpose``), bounded
by the edge's body limit and ``batches.max_file_bytes``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from gateway.batches.service import BatchService
from gateway.core.tenant import Principal
from gateway.errors import PermissionDenied
from gateway.openai.body import StrictJsonRoute

# (authorization, client address): gateway.identity.bearer.Authenticator, as on every /v1 route
Authenticate = Callable[[str | None, str | None], Awaitable[Principal]]
BatchEndpoint = Literal["/v1/chat/completions", "/v1/completions", "/v1/embeddings",
                        "/v1/responses"]  # fmt: skip


@dataclass(frozen=True, slots=True)
class BatchApi:
    """What the routes need, built in the lifespan."""

    service: BatchService
    authenticate: Authenticate
    subject_header: str


async def _api(request: Request) -> BatchApi:
    api: BatchApi = request.state.batches
    return api


async def _caller(request: Request, api: Annotated[BatchApi, Depends(_api)]) -> Principal:
    client = request.client.host if request.client else None
    return await api.authenticate(request.headers.get("authorization"), client)


Api = Annotated[BatchApi, Depends(_api)]
Caller = Annotated[Principal, Depends(_caller)]
router = APIRouter(prefix="/v1", route_class=StrictJsonRoute)


@router.post("/files", summary="Upload a file (JSONL of batch requests)")
async def upload_file(
    request: Request,
    api: Api,
    who: Caller,
    file: Annotated[UploadFile, File()],
    purpose: Annotated[str, Form(max_length=64)],
) -> dict[str, Any]:
    content = await file.read()
    subject = who.subject or request.headers.get(api.subject_header)  # a token's wins
    stored = await api.service.upload(who, file.filename or "", purpose, content, subject)
    return stored.public()


@router.get("/files", summary="List files")
async def list_files(
    api: Api,
    who: Caller,
    purpose: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
    order: Literal["asc", "desc"] = "desc",
) -> dict[str, Any]:
    return await api.service.files(who, purpose, after, limit, order)


@router.get("/files/{file_id}", summary="Retrieve a file")
async def retrieve_file(file_id: str, api: Api, who: Caller) -> dict[str, Any]:
    return (await api.service.file(who, file_id)).public()


@router.delete("/files/{file_id}", summary="Delete a file")
async def delete_file(file_id: str, api: Api, who: Caller) -> dict[str, Any]:
    return await api.service.delete_file(who, file_id)


@router.get("/files/{file_id}/content", summary="Retrieve a file's content")
async def file_content(file_id: str, api: Api, who: Caller) -> Response:
    content = await api.service.content(who, file_id)
    return Response(content, media_type="application/jsonl")


MetadataKey = Annotated[str, Field(max_length=64)]
MetadataValue = Annotated[str, Field(max_length=512)]


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_file_id: str = Field(max_length=64)
    endpoint: BatchEndpoint
    completion_window: Literal["24h"]
    metadata: dict[MetadataKey, MetadataValue] | None = Field(None, max_length=16)
    # Accepted for the SDK; results follow the gateway's retention (batches.retention_days).
    output_expires_after: dict[str, Any] | None = None


@router.post("/batches", summary="Create a batch")
async def create_batch(
    body: BatchCreate, request: Request, api: Api, who: Caller
) -> dict[str, Any]:
    if who.subject is not None:  # its lines would run long after the token has expired
        raise PermissionDenied("Create batches with an API key: their lines run as that key.")
    subject = request.headers.get(api.subject_header)
    batch = await api.service.create(
        who, body.input_file_id, body.endpoint, body.completion_window, body.metadata, subject
    )
    return batch.public()


@router.get("/batches", summary="List batches")
async def list_batches(
    api: Api,
    who: Caller,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    return await api.service.batches(who, after, limit)


@router.get("/batches/{batch_id}", summary="Retrieve a batch")
async def retrieve_batch(batch_id: str, api: Api, who: Caller) -> dict[str, Any]:
    return (await api.service.batch(who, batch_id)).public()


@router.post("/batches/{batch_id}/cancel", summary="Cancel a batch")
async def cancel_batch(batch_id: str, api: Api, who: Caller) -> dict[str, Any]:
    return (await api.service.cancel(who, batch_id)).public()
