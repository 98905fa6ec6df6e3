"""Usage records that could not reach Redis, kept on local disk until they can.

One JSON line per record (with the scopes it settles), appended and fsynced before the
request's metering counts as done. Each process appends to its own file; replay takes any
file in the folder (a lock keeps two processes off the same file), sends every line through
the same exactly-once metering call, and deletes the file only when all of it went through.
A crash mid-replay is harmless: replaying a line twice meters it once. Before sending a file,
replay asks (``held``) which of its ids the durable ledger already holds, and skips them: past
the Redis marker's TTL, the ledger is what knows.

A GDPR erasure rewrites a file (under its lock) into a temporary file renamed over it: an
appender or replay waiting on the old file finds it unlinked and opens the new one.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
from pydantic import BaseModel, ConfigDict

from gateway.core.limits import Scope
from gateway.core.usage import UsageRecord
from gateway.jsonl import replacement
from gateway.quota.pending import SettledScope, settled_scopes
from gateway.quota.store import check_subject_ref


class SpoolEntry(BaseModel):
    model_config = ConfigDict(frozen=True)
    record: UsageRecord
    scopes: list[SettledScope]

    @classmethod
    def of(cls, record: UsageRecord, scopes: tuple[Scope, ...]) -> SpoolEntry:
        return cls(record=record, scopes=[SettledScope.of(s) for s in scopes])

    def settle_scopes(self) -> tuple[Scope, ...]:
        return settled_scopes(self.record.tenant, self.scopes)


class DiskSpool:
    def __init__(self, folder: Path, name: str) -> None:
        self._folder = folder
        self._path = folder / f"{name}.jsonl"

    @property
    def path(self) -> Path:
        return self._path

    def append(self, entry: SpoolEntry) -> None:
        """Blocking (open, write, fsync): call it in a thread."""
        self._folder.mkdir(parents=True, exist_ok=True)
        line = orjson.dumps(entry.model_dump(mode="json")) + b"\n"
        while True:
            with open(self._path, "ab") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                if os.fstat(handle.fileno()).st_nlink == 0:
                    continue  # replayed and removed while we waited: open the new one
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
                return

    def pending(self) -> int:
        if not self._folder.is_dir():
            return 0
        count = 0
        for path in self._folder.glob("*.jsonl"):
            with open(path, "rb") as handle:
                count += sum(1 for line in handle if line.strip())
        return count

    async def replay(
        self,
        send: Callable[[SpoolEntry], Awaitable[bool]],
        held: Callable[[list[SpoolEntry]], Awaitable[set[tuple[str, str]]]] | None = None,
    ) -> int:
        """Send every spooled entry whose (tenant, request id) ``held`` does not name; returns
        how many were sent. Raises what ``send`` or ``held`` raise (Redis or the ledger still
        down): the files stay for the next attempt."""
        if not self._folder.is_dir():
            return 0
        sent = 0
        for path in sorted(self._folder.glob("*.jsonl")):
            try:
                # Local files of a few KB, read once per outage: not worth a thread hop.
                handle = open(path, "rb+")  # noqa: ASYNC230, SIM115
            except FileNotFoundError:
                continue  # another process replayed and removed it since we listed it
            with handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # another process is replaying or appending to it
                if os.fstat(handle.fileno()).st_nlink == 0:
                    continue  # replayed and removed before we had the lock
                entries = [
                    SpoolEntry.model_validate(orjson.loads(line))
                    for line in handle.read().splitlines()
                    if line.strip()
                ]
                known = await held(entries) if held is not None else set()
                for entry in entries:
                    if (entry.record.tenant, entry.record.request_id) not in known:
                        await send(entry)
                        sent += 1
                # All through: empty it under the lock (appenders wait), then remove it.
                handle.truncate(0)
                path.unlink()
        return sent

    def erase_subject(self, subject_ref: str) -> int:
        """GDPR Art. 17: remove the subject's reference from every spooled record in the
        folder (the records stay: billing data); returns how many had it. Blocking (it waits
        for an append or a replay holding a file): call it in a thread.

        Erase the spool before the shared store: a replay running meanwhile finishes first
        (it holds the lock), so what it sent is already in the store when that is erased."""
        check_subject_ref(subject_ref)
        if not self._folder.is_dir():
            return 0
        return sum(_erase_in(path, subject_ref) for path in sorted(self._folder.glob("*.jsonl")))


def _erase_in(path: Path, subject_ref: str) -> int:
    """One file, rewritten under its lock if it holds any of the subject's records."""
    while True:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - the with below closes it
        except FileNotFoundError:
            return 0  # replayed and removed: its records are in the shared store now
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            if os.fstat(handle.fileno()).st_nlink == 0:
                continue  # replayed, or rewritten by another erasure, while we waited
            erased = 0
            lines: list[bytes] = []
            for line in handle.read().splitlines(keepends=True):
                rewritten = _without_subject(line, subject_ref)
                if rewritten is not None:
                    line = rewritten
                    erased += 1
                lines.append(line)
            if erased:
                with replacement(path, os.fstat(handle.fileno()).st_mode) as out:
                    out.write(b"".join(lines))
            return erased


def _without_subject(line: bytes, subject_ref: str) -> bytes | None:
    """The line rewritten without the subject's reference; None if it is not the subject's."""
    if not line.strip():
        return None
    spooled = orjson.loads(line)
    if spooled["record"].get("subject_ref") != subject_ref:
        return None
    entry = SpoolEntry.model_validate(spooled)
    record = entry.record.model_copy(update={"subject_ref": None})
    erased = entry.model_copy(update={"record": record})
    return orjson.dumps(erased.model_dump(mode="json")) + b"\n"
