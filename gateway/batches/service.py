"""What the routes do: files and batches of the calling tenant, in the declared store.

Every lookup is by tenant and id: another tenant's id answers 404 as an unknown one does.
Without a declared store every route answers 404 ``batches_not_configured`` (after
authentication), saying what the operator must declare.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, TypeVar

from gateway.batches import decisions
from gateway.batches.jsonl_input import check_upload, subjects_of
from gateway.batches.models import StoredBatch, StoredFile, new_batch_id, new_file_id
from gateway.batches.store import BatchStore
from gateway.core.tenant import Principal
from gateway.errors import InvalidRequest, NotFound, PayloadTooLarge
from gateway.settings import BatchSettings

WINDOW_SECONDS = {"24h": 86_400}
NOT_CONFIGURED = (
    "Files and batches are not configured on this gateway: its operator must declare an "
    "in-jurisdiction store for them (batches.store)."
)


class _Item(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def created_at(self) -> int: ...


Item = TypeVar("Item", bound=_Item)


class BatchService:
    def __init__(
        self,
        store: BatchStore | None,
        settings: BatchSettings,
        max_body_bytes: int,
        subject_ref: Callable[[str | None], str | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._settings = settings
        self._max_bytes = min(settings.max_file_bytes, max_body_bytes)
        self._subject_ref = subject_ref
        self._clock = clock

    def _configured(self) -> BatchStore:
        if self.store is None:
            raise NotFound(NOT_CONFIGURED, code="batches_not_configured")
        return self.store

    def _refs(self, subjects: set[str]) -> list[str]:
        refs = {self._subject_ref(s) for s in subjects}
        return sorted(r for r in refs if r)

    # files

    async def upload(
        self, who: Principal, filename: str, purpose: str, content: bytes, subject: str | None
    ) -> StoredFile:
        store = self._configured()
        if purpose != "batch":
            raise InvalidRequest(
                "Only purpose 'batch' is supported on this gateway.", param="purpose"
            )
        if len(content) > self._max_bytes:
            raise PayloadTooLarge(
                f"The file is larger than the limit of {self._max_bytes} bytes.", param="file"
            )
        if not filename.endswith(".jsonl"):
            raise InvalidRequest(
                "Invalid file format for Batch API: the file must be .jsonl.", param="file"
            )
        lines = check_upload(content, self._settings.max_lines)
        now = self._clock()
        tenant = who.tenant
        file = StoredFile(
            id=new_file_id(),
            tenant=tenant.id,
            subject_refs=self._refs(subjects_of(lines) | ({subject} if subject else set())),
            delete_after=decisions.delete_after(
                now, tenant.retention_days, self._settings.retention_days
            ),
            bytes=len(content),
            created_at=int(now),
            filename=filename[-255:],
            purpose="batch",
            lines=len(lines),
        )
        await store.put_file(file, content)
        return file

    async def file(self, who: Principal, file_id: str) -> StoredFile:
        found = await self._configured().file(who.tenant.id, file_id)
        if found is None:
            raise NotFound(f"No such File object: {file_id}", param="file_id")
        return found

    async def files(
        self,
        who: Principal,
        purpose: str | None,
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
    ) -> dict[str, Any]:
        found = await self._configured().files(who.tenant.id)
        if purpose is not None:
            found = [f for f in found if f.purpose == purpose]
        return page([f.public() for f in _ordered(found, order)], after, limit)

    async def content(self, who: Principal, file_id: str) -> bytes:
        content = await self._configured().content(who.tenant.id, file_id)
        if content is None:
            raise NotFound(f"No such File object: {file_id}", param="file_id")
        return content

    async def delete_file(self, who: Principal, file_id: str) -> dict[str, Any]:
        if not await self._configured().delete_file(who.tenant.id, file_id):
            raise NotFound(f"No such File object: {file_id}", param="file_id")
        return {"id": file_id, "object": "file", "deleted": True}

    # batches

    async def create(
        self,
        who: Principal,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: dict[str, str] | None,
        subject: str | None,
    ) -> StoredBatch:
        store = self._configured()
        tenant = who.tenant
        source = await store.file(tenant.id, input_file_id)
        if source is None:
            raise NotFound(f"No such File object: {input_file_id}", param="input_file_id")
        if source.purpose != "batch":
            raise InvalidRequest(
                "The input file must be uploaded with purpose 'batch'.", param="input_file_id"
            )
        now = self._clock()
        refs = sorted(set(source.subject_refs) | set(self._refs({subject} if subject else set())))
        batch = StoredBatch(
            id=new_batch_id(),
            tenant=tenant.id,
            key_id=who.key_id,
            subject=subject,
            subject_refs=refs,
            delete_after=decisions.delete_after(
                now, tenant.retention_days, self._settings.retention_days
            ),
            endpoint=endpoint,
            input_file_id=input_file_id,
            completion_window=completion_window,
            status="validating",
            created_at=int(now),
            expires_at=int(now) + WINDOW_SECONDS[completion_window],
            metadata=metadata,
        )
        await store.put_batch(batch)
        return batch

    async def batch(self, who: Principal, batch_id: str) -> StoredBatch:
        found = await self._configured().batch(who.tenant.id, batch_id)
        if found is None:
            raise NotFound(f"No such Batch object: {batch_id}", param="batch_id")
        return found

    async def batches(self, who: Principal, after: str | None, limit: int) -> dict[str, Any]:
        found = await self._configured().batches(who.tenant.id)
        return page([b.public() for b in _ordered(found, "desc")], after, limit)

    async def cancel(self, who: Principal, batch_id: str) -> StoredBatch:
        store = self._configured()
        batch = await self.batch(who, batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            raise InvalidRequest(
                f"Cannot cancel a batch with status '{batch.status}'.", param="batch_id"
            )
        await store.request_cancel(who.tenant.id, batch_id, int(self._clock()))
        return await self.batch(who, batch_id)

    async def erase_tenant(self, tenant: str) -> int:
        return await self._configured().erase_tenant(tenant)


def _ordered(items: Sequence[Item], order: Literal["asc", "desc"]) -> list[Item]:
    return sorted(items, key=lambda i: (i.created_at, i.id), reverse=order == "desc")


def page(objects: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    """OpenAI's cursor page: the objects after the one named ``after``, at most ``limit``."""
    start = 0
    if after is not None:
        ids = [o["id"] for o in objects]
        start = ids.index(after) + 1 if after in ids else len(objects)
    shown = objects[start : start + limit]
    return {
        "object": "list",
        "data": shown,
        "first_id": shown[0]["id"] if shown else None,
        "last_id": shown[-1]["id"] if shown else None,
        "has_more": start + limit < len(objects),
    }
