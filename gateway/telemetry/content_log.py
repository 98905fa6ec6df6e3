"""The content log: the masked prompt and answer text of requests, one JSON line per request.

The gateway logs no content by default. Only a tenant whose policy turns content logging on
gets its requests' text written here, and only as the gateway has already masked it
(placeholders such as ``<PERSON_1>`` or ``<IBAN>``, never the values): the caller masks, this
module only stores. The file's path is declared as a sink in the settings, with its
jurisdiction and operator, and checked against the allowed jurisdictions before the gateway
starts (``residency.py``), so the text stays where the tenant's data may be.

``append`` returns the sha256 of the stored line: the audit record keeps it as a commitment,
so an entry can be checked against the audit trail without the trail holding the text.

Content is kept for the tenant's retention (``purge``) and removed per data subject on
request (``erase``, GDPR Art. 17). Both rewrite the file like the audit file store does
(``gateway.audit.file``): a temporary file renamed over the original, so a crash leaves the
old or the new file, never half of each. Lines that cannot be read are kept as they are by a
rewrite (removing them would silently lose what may still be someone's data) and skipped by
``entries``.

Appends take an asyncio lock (one writer per process) and ``flock`` on ``<file>.lock``
beside the file (one writer across processes). The file and lock stay open between appends;
a rewrite by any process is seen as another inode and the file is reopened. Blocking work
runs in threads; an ``OSError`` becomes ``ContentLogUnavailable``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from gateway.jsonl import SharedAppendFile, replacement

T = TypeVar("T")
_DAY = 86_400.0


class ContentEntry(BaseModel):
    """One request's masked text; no raw subject: ``subject_ref`` is a keyed HMAC (hex)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: float  # unix seconds
    tenant: str
    request_id: str
    subject_ref: str | None
    policy: str | None  # "id@version"
    prompt: list[str]  # masked texts of the request, in order
    answer: list[str]  # masked texts of the answer


class ContentLogUnavailable(Exception):
    """The content log file could not be written or read (disk full, permissions)."""


class FileContentLog:
    FILE_NAME = "content.jsonl"

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self._file = SharedAppendFile(path)
        self._fsync = fsync

    async def append(self, entry: ContentEntry) -> str:
        """Stores one line; returns the sha256 hex of its bytes (without the newline)."""
        line = orjson.dumps(entry.model_dump(mode="json"))
        await self._locked(lambda: self._append(line + b"\n"))
        return hashlib.sha256(line).hexdigest()

    async def entries(self, tenant: str | None = None) -> list[ContentEntry]:
        """The readable entries in file order, of one tenant or of all."""
        try:
            return await asyncio.to_thread(self._read, tenant)
        except OSError as exc:
            raise ContentLogUnavailable(f"the content log cannot be read: {exc}") from exc

    async def purge(
        self,
        retention_days: Mapping[str, float],
        default_days: float | None,
        now: float | None = None,
    ) -> dict[str, int]:
        """Removes entries older than their tenant's retention (else ``default_days``; None
        keeps them); returns the count per tenant, for tenants in the mapping or with removals.
        """
        current = time.time() if now is None else now

        def expired(entry: ContentEntry) -> bool:
            days = retention_days.get(entry.tenant, default_days)
            return days is not None and entry.at < current - days * _DAY

        removed = await self._locked(lambda: self._rewrite(expired))
        return {tenant: removed[tenant] for tenant in {*retention_days, *removed}}

    async def erase(self, subject_ref: str) -> int:
        """Removes every entry of one data subject; returns how many."""
        removed = await self._locked(
            lambda: self._rewrite(lambda entry: entry.subject_ref == subject_ref)
        )
        return sum(removed.values())

    async def close(self) -> None:
        await self._file.aclose()

    async def _locked(self, work: Callable[[], T]) -> T:
        return await self._file.run(
            work, lambda exc: ContentLogUnavailable(f"the content log failed: {exc}")
        )

    def _append(self, data: bytes) -> None:
        fd = self._file.fd(readable=True)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a torn line stays a line of its own, not a prefix of this one
        self._file.write(data, fsync=self._fsync, readable=True)

    def _read(self, tenant: str | None) -> list[ContentEntry]:
        try:
            source = self.path.open("rb")
        except FileNotFoundError:
            return []
        with source:
            found = (_parse(line) for line in source)
            return [e for e in found if e is not None and tenant in (None, e.tenant)]

    def _rewrite(self, remove: Callable[[ContentEntry], bool]) -> Counter[str]:
        """Rewrites the file without the entries ``remove`` picks; counts them per tenant.

        A first read looks for one such entry, so a purge that finds nothing rewrites nothing.
        """
        if not self._any(remove):
            return Counter()
        removed: Counter[str] = Counter()
        with self.path.open("rb") as source, replacement(self.path) as target:
            for line in source:
                entry = _parse(line)
                if entry is not None and remove(entry):
                    removed[entry.tenant] += 1
                elif line.strip():
                    target.write(line if line.endswith(b"\n") else line + b"\n")
        self._file.close_file()  # renamed over: the next append opens the new file
        return removed

    def _any(self, remove: Callable[[ContentEntry], bool]) -> bool:
        try:
            source = self.path.open("rb")
        except FileNotFoundError:
            return False
        with source:
            return any(e is not None and remove(e) for e in map(_parse, source))


def _parse(line: bytes) -> ContentEntry | None:
    """The entry on a line, or None for a blank or unreadable one."""
    if not line.strip():
        return None
    try:
        return ContentEntry.model_validate(orjson.loads(line))
    except (orjson.JSONDecodeError, ValidationError):
        return None
