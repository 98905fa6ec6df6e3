"""The batch store in a directory (a volume in the jurisdiction), for one host.

::

    <root>/.lock                              every change holds it (flock): workers and
                                              processes on the host share the store safely
    <root>/<tenant>/files/<id>.json | .data   a file's record and content
    <root>/<tenant>/batches/<id>.json         a batch's record
    <root>/<tenant>/batches/<id>.results      its line results, one JSON line each
    <root>/<tenant>/batches/<id>.cancel       the time a cancel was asked for
    <root>/.leases/<id>                       "<owner> <until>": who runs the batch

Ids are checked against the gateway's own id format before they touch a path, so no id a
client sends can reach outside its tenant's folder. Records are written to a temporary file
and renamed (a crash leaves the old record or the new one). File I/O runs in a thread.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from gateway.batches.models import (
    BATCH_ID,
    FILE_ID,
    UNFINISHED,
    LineResult,
    StoredBatch,
    StoredFile,
)
from gateway.batches.store import with_cancel

T = TypeVar("T")
_FILE, _BATCH = re.compile(FILE_ID), re.compile(BATCH_ID)
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


class DirectoryBatchStore:
    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / ".leases").mkdir(exist_ok=True)

    async def _run(self, work: Callable[[], T]) -> T:
        def locked() -> T:
            with self._locked():
                return work()

        return await asyncio.to_thread(locked)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._root / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _tenant(self, tenant: str) -> Path:
        if not _TENANT.match(tenant):
            raise ValueError("not a tenant id")
        return self._root / tenant

    def _file(self, tenant: str, file_id: str) -> Path | None:
        return self._tenant(tenant) / "files" / file_id if _FILE.match(file_id) else None

    def _batch(self, tenant: str, batch_id: str) -> Path | None:
        return self._tenant(tenant) / "batches" / batch_id if _BATCH.match(batch_id) else None

    # files

    async def put_file(self, file: StoredFile, content: bytes) -> None:
        base = self._file(file.tenant, file.id)
        assert base is not None, "the gateway makes file ids"

        def put() -> None:
            _write(base.with_suffix(".data"), content)
            _write(base.with_suffix(".json"), file.model_dump_json().encode())

        await self._run(put)

    def _read_file(self, tenant: str, file_id: str) -> StoredFile | None:
        base = self._file(tenant, file_id)
        if base is None or not base.with_suffix(".json").exists():
            return None
        return StoredFile.model_validate_json(base.with_suffix(".json").read_bytes())

    async def file(self, tenant: str, file_id: str) -> StoredFile | None:
        return await self._run(lambda: self._read_file(tenant, file_id))

    async def files(self, tenant: str) -> list[StoredFile]:
        def read() -> list[StoredFile]:
            folder = self._tenant(tenant) / "files"
            if not folder.exists():
                return []
            paths = sorted(folder.glob("*.json"))
            return [StoredFile.model_validate_json(p.read_bytes()) for p in paths]

        return await self._run(read)

    async def content(self, tenant: str, file_id: str) -> bytes | None:
        def read() -> bytes | None:
            base = self._file(tenant, file_id)
            if base is None or not base.with_suffix(".json").exists():
                return None
            return base.with_suffix(".data").read_bytes()

        return await self._run(read)

    def _drop_file(self, tenant: str, file_id: str) -> bool:
        base = self._file(tenant, file_id)
        if base is None or not base.with_suffix(".json").exists():
            return False
        base.with_suffix(".json").unlink()
        base.with_suffix(".data").unlink(missing_ok=True)
        return True

    async def delete_file(self, tenant: str, file_id: str) -> bool:
        return await self._run(lambda: self._drop_file(tenant, file_id))

    # batches

    async def put_batch(self, batch: StoredBatch) -> None:
        base = self._batch(batch.tenant, batch.id)
        assert base is not None, "the gateway makes batch ids"
        await self._run(lambda: _write(base.with_suffix(".json"), batch.model_dump_json().encode()))

    async def update_batch(self, batch: StoredBatch) -> bool:
        base = self._batch(batch.tenant, batch.id)
        assert base is not None, "the gateway makes batch ids"
        record = base.with_suffix(".json")

        def update() -> bool:
            if not record.exists():
                return False
            _write(record, batch.model_dump_json().encode())
            return True

        return await self._run(update)

    def _read_batch(self, base: Path) -> StoredBatch | None:
        record = base.with_suffix(".json")
        if not record.exists():
            return None
        batch = StoredBatch.model_validate_json(record.read_bytes())
        cancel = base.with_suffix(".cancel")
        return with_cancel(batch, int(cancel.read_text()) if cancel.exists() else None)

    async def batch(self, tenant: str, batch_id: str) -> StoredBatch | None:
        base = self._batch(tenant, batch_id)
        if base is None:
            return None
        return await self._run(lambda: self._read_batch(base))

    def _tenants(self) -> list[Path]:
        return [p for p in self._root.iterdir() if not p.name.startswith(".")]

    def _all_batches(self, tenant: str | None = None) -> list[StoredBatch]:
        tenants = [self._tenant(tenant)] if tenant else self._tenants()
        found: list[StoredBatch] = []
        for folder in tenants:
            for record in sorted((folder / "batches").glob("*.json")):
                batch = self._read_batch(record.with_suffix(""))
                if batch is not None:
                    found.append(batch)
        return found

    async def batches(self, tenant: str) -> list[StoredBatch]:
        return await self._run(lambda: self._all_batches(tenant))

    async def unfinished(self) -> list[StoredBatch]:
        def read() -> list[StoredBatch]:
            return [b for b in self._all_batches() if b.status in UNFINISHED]

        return await self._run(read)

    async def request_cancel(self, tenant: str, batch_id: str, at: int) -> bool:
        base = self._batch(tenant, batch_id)
        if base is None:
            return False

        def cancel() -> bool:
            if not base.with_suffix(".json").exists():
                return False
            if not base.with_suffix(".cancel").exists():
                _write(base.with_suffix(".cancel"), str(at).encode())
            return True

        return await self._run(cancel)

    async def add_result(self, tenant: str, batch_id: str, result: LineResult) -> None:
        base = self._batch(tenant, batch_id)
        assert base is not None

        def append() -> None:
            if not base.with_suffix(".json").exists():
                return  # erased meanwhile: nothing is written back
            with open(base.with_suffix(".results"), "ab") as out:
                out.write(result.model_dump_json().encode() + b"\n")
                out.flush()
                os.fsync(out.fileno())

        await self._run(append)

    async def results(self, tenant: str, batch_id: str) -> list[LineResult]:
        base = self._batch(tenant, batch_id)
        if base is None:
            return []

        def read() -> list[LineResult]:
            path = base.with_suffix(".results")
            if not path.exists():
                return []
            by_index: dict[int, LineResult] = {}
            for raw in path.read_bytes().splitlines():
                if raw.strip():
                    result = LineResult.model_validate_json(raw)
                    by_index[result.index] = result
            return [by_index[i] for i in sorted(by_index)]

        return await self._run(read)

    # leases

    async def claim(self, batch_id: str, owner: str, now: float, until: float) -> bool:
        if not _BATCH.match(batch_id):
            return False
        path = self._root / ".leases" / batch_id

        def claim() -> bool:
            if path.exists():
                holder, _, ends = path.read_text().rpartition(" ")
                if holder != owner and float(ends) > now:
                    return False
            _write(path, f"{owner} {until}".encode())
            return True

        return await self._run(claim)

    async def release(self, batch_id: str, owner: str) -> None:
        path = self._root / ".leases" / batch_id

        def release() -> None:
            if path.exists() and path.read_text().rpartition(" ")[0] == owner:
                path.unlink()

        if _BATCH.match(batch_id):
            await self._run(release)

    # retention and erasure

    def _drop_batch(self, batch: StoredBatch) -> None:
        base = self._batch(batch.tenant, batch.id)
        assert base is not None
        for suffix in (".json", ".results", ".cancel"):
            base.with_suffix(suffix).unlink(missing_ok=True)
        (self._root / ".leases" / batch.id).unlink(missing_ok=True)

    def _drop_where(self, keep: Callable[[StoredFile | StoredBatch], bool]) -> int:
        count = 0
        for folder in self._tenants():
            for record in sorted((folder / "files").glob("*.json")):
                file = StoredFile.model_validate_json(record.read_bytes())
                if not keep(file):
                    count += self._drop_file(file.tenant, file.id)
            for batch in self._all_batches(folder.name):
                if not keep(batch):
                    self._drop_batch(batch)
                    count += 1
        return count

    async def delete_expired(self, now: float) -> int:
        return await self._run(lambda: self._drop_where(lambda item: item.delete_after > now))

    async def erase_tenant(self, tenant: str) -> int:
        if not _TENANT.match(tenant):  # no tenant has that id: nothing of it is here
            return 0

        def erase() -> int:
            count = self._drop_where(lambda item: item.tenant != tenant)
            shutil.rmtree(self._tenant(tenant), ignore_errors=True)
            return count

        return await self._run(erase)

    async def erase_subject(self, subject_ref: str) -> int:
        return await self._run(
            lambda: self._drop_where(lambda item: subject_ref not in item.subject_refs)
        )

    async def close(self) -> None:
        return None
