"""The batch store: one Protocol, two implementations (a directory, PostgreSQL).

Everything is tenant-scoped: a file or batch is found only under its tenant, so another
tenant's id is simply not there. A cancellation is kept apart from the batch record
(``request_cancel``), so a runner saving its progress never overwrites a cancel made on
another replica; ``batch`` and ``unfinished`` return the record with it merged in. A batch is
run by whoever holds its lease (``claim``, renewed by claiming again before it ends).
"""

from __future__ import annotations

from typing import Protocol

from gateway.batches.models import UNFINISHED, LineResult, StoredBatch, StoredFile


class BatchStore(Protocol):
    async def put_file(self, file: StoredFile, content: bytes) -> None: ...

    async def file(self, tenant: str, file_id: str) -> StoredFile | None: ...

    async def files(self, tenant: str) -> list[StoredFile]: ...

    async def content(self, tenant: str, file_id: str) -> bytes | None: ...

    async def delete_file(self, tenant: str, file_id: str) -> bool: ...

    async def put_batch(self, batch: StoredBatch) -> None:
        """Insert or replace the record (its cancellation, if any, stays)."""
        ...

    async def update_batch(self, batch: StoredBatch) -> bool:
        """Replace the record if it still exists (an erased batch stays erased)."""
        ...

    async def batch(self, tenant: str, batch_id: str) -> StoredBatch | None: ...

    async def batches(self, tenant: str) -> list[StoredBatch]: ...

    async def unfinished(self) -> list[StoredBatch]:
        """Every tenant's batches a worker must still run or end."""
        ...

    async def request_cancel(self, tenant: str, batch_id: str, at: int) -> bool:
        """Mark the batch to be cancelled (once: the first time is kept); False if unknown."""
        ...

    async def add_result(self, tenant: str, batch_id: str, result: LineResult) -> None: ...

    async def results(self, tenant: str, batch_id: str) -> list[LineResult]:
        """Every line's result kept so far (one per line index, the last one kept)."""
        ...

    async def claim(self, batch_id: str, owner: str, now: float, until: float) -> bool:
        """Take (or renew) the batch's lease until ``until``; False if another owner holds
        one that has not ended at ``now``."""
        ...

    async def release(self, batch_id: str, owner: str) -> None: ...

    async def delete_expired(self, now: float) -> int:
        """Delete files and batches (with their results) whose retention ended; how many."""
        ...

    async def erase_tenant(self, tenant: str) -> int:
        """Delete every file and batch of the tenant; how many."""
        ...

    async def erase_subject(self, subject_ref: str) -> int:
        """Delete every file and batch about the subject, whole; how many."""
        ...

    async def close(self) -> None: ...


def with_cancel(batch: StoredBatch, cancelling_at: int | None) -> StoredBatch:
    """The record as clients and runners see it: a cancel asked for shows as ``cancelling``
    until the runner ends the batch."""
    if cancelling_at is None:
        return batch
    status = "cancelling" if batch.status in UNFINISHED else batch.status
    return batch.model_copy(update={"cancelling_at": cancelling_at, "status": status})
