"""The audit chain in a JSON Lines file: the embedded default, one entry per line.

Appends take two locks: an asyncio lock (one writer per process) and ``flock`` on a
``<file>.lock`` beside it (one writer across processes, e.g. uvicorn workers sharing the
file). Under them the head is read from the file's last line (cached while the file's inode
and size are unchanged), so every process links to the true head. A batch is written with
one ``write`` and, by default, fsynced before the append returns.

The lock file and the audit file stay open between appends (an append is then one flock, one
stat, one write and one fsync); when a purge or erasure, in this process or another one, has
renamed a new file over the old one, the stat sees another inode and the file is reopened.

Purge and erasure rewrite the file: a temporary file in the same folder, fsynced, then
renamed over the original, so a crash leaves either the old or the new file, never half of
each. A scan keeps the file it opened, so a rewrite meanwhile does not confuse it.

The head is kept apart from the entries, in ``<file>.head`` beside it: the last entry's seq
and hash, signed with the trail's HMAC key (the key the batch's drafts were sealed with),
replaced atomically (temporary file, fsync, rename) after each appended batch, under the
same lock. ``audit verify`` then finds a cut tail, an emptied or a deleted file, and a
forged head; a missing head fails verification (see ``chain.Verifier``), and the next append
adopts the chain's end (a chain written before heads were kept), with a warning in the log.
An append first checks the chain against its head and stops (``AuditUnavailable``) if the
chain ends before it: linking new entries to a cut chain would move the head past the cut
and hide it. A chain that goes on past its head (a crash between the two writes) is fine.
Purge and erasure keep every entry's seq and hash, so they leave the head as it is.
Blocking work runs in threads.

One process writes it (the embedded default): it stays one chain, ``main``, with no anchors;
its signed head file is what a PostgreSQL trail's anchors are to its chains.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import BinaryIO, TypeVar

import orjson
import structlog
from pydantic import BaseModel, ValidationError

from gateway.audit.anchor import AnchorEntry, AnchorScan, no_anchors
from gateway.audit.browse import Found, RecordQuery, keep_newest
from gateway.audit.chain import (
    EMPTY,
    LEGACY_CHAIN,
    ChainEntry,
    ChainHead,
    Draft,
    HeadRecord,
    Unreadable,
    link_all,
    sign_head,
)
from gateway.audit.records import AuditUnavailable
from gateway.jsonl import SharedAppendFile, replacement

T = TypeVar("T")
_BATCH = 1000
FILE_NAME = "audit.jsonl"  # the embedded sink's file in its folder (telemetry.audit_dir)
CHAIN = LEGACY_CHAIN
_TAIL_BLOCK = 8192
log = structlog.get_logger("gateway.audit")


def head_path(path: Path) -> Path:
    """Where the head of the chain in ``path`` is kept."""
    return path.with_name(path.name + ".head")


class _HeadFile(BaseModel):
    seq: int
    hash: str
    hmac: str | None = None


class FileAuditStore:
    chain = CHAIN
    anchored = False  # one chain: its signed head file stands where anchors would

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self._file = SharedAppendFile(path)
        self._fsync = fsync
        self._tail: tuple[tuple[int, int], ChainHead] | None = None  # (inode, size) -> head
        self._head_path = head_path(path)
        # (inode, size, mtime) of the head file -> what it holds; None: read it again
        self._head: tuple[tuple[int, int, int], HeadRecord] | None = None

    async def append(self, drafts: Sequence[Draft]) -> list[ChainEntry]:
        if not drafts:
            return []
        return await self._locked(lambda: self._append(drafts))

    async def head(self, chain: str | None = None) -> HeadRecord:
        try:
            return await asyncio.to_thread(self._read_head)
        except OSError as exc:
            raise AuditUnavailable(f"the audit head cannot be read: {exc}") from exc

    async def chains(self) -> list[str]:
        return [CHAIN]

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[FileAuditStore]:
        """Itself: a scan keeps the file it opened, and the head is read before it."""
        yield self

    @asynccontextmanager
    async def anchors(self) -> AsyncIterator[AnchorScan]:
        yield AnchorScan(None, None, no_anchors())

    async def anchor(
        self, at: float, hmac_key: bytes | None, min_gap: float = 0.0
    ) -> AnchorEntry | None:
        return None

    async def entries(
        self, after_seq: int = 0, limit: int = 1000, chain: str | None = None
    ) -> list[ChainEntry]:
        found: list[ChainEntry] = []
        async with aclosing(self.scan()) as items:
            async for item in items:
                if isinstance(item, ChainEntry) and item.seq > after_seq:
                    found.append(item)
                    if len(found) == limit:
                        break
        return found

    async def scan(
        self, until_seq: int | None = None, chain: str | None = None
    ) -> AsyncGenerator[ChainEntry | Unreadable, None]:
        """The lines in file order (appends are made in seq order, so that is chain order)."""
        try:
            handle = await asyncio.to_thread(self.path.open, "rb")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise AuditUnavailable(f"the audit file cannot be read: {exc}") from exc
        number = 0
        try:
            while True:
                lines = await asyncio.to_thread(_read_lines, handle, _BATCH)
                for line in lines:
                    number += 1
                    item = _parse(line, number)
                    if item is not None:
                        yield item
                    if isinstance(item, ChainEntry) and item.seq == until_seq:
                        return
                if len(lines) < _BATCH:
                    return
        finally:
            await asyncio.to_thread(handle.close)

    async def tenants(self) -> set[str]:
        """Read in a thread: the hourly retention job asks, and a scan parses each line on
        the event loop (a thousand lines, ~20 ms, per step)."""
        try:
            return await asyncio.to_thread(self._tenants)
        except OSError as exc:
            raise AuditUnavailable(f"the audit file cannot be read: {exc}") from exc

    async def newest(self, query: RecordQuery) -> list[Found]:
        """The newest matching entries (``gateway.audit.browse``): a scan, in a thread."""
        try:
            return await asyncio.to_thread(self._newest, query)
        except OSError as exc:
            raise AuditUnavailable(f"the audit file cannot be read: {exc}") from exc

    def _newest(self, query: RecordQuery) -> list[Found]:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return []
        with handle:
            parsed = (_parse(line, 0) for line in handle)
            entries = (item for item in parsed if isinstance(item, ChainEntry))
            return keep_newest(query, CHAIN, entries)

    async def purge(self, tenant: str, before: float) -> int:
        def prune(entry: ChainEntry) -> ChainEntry | None:
            if entry.tenant == tenant and entry.at < before and not entry.pruned:
                return entry.without_body()
            return None

        return await self._locked(lambda: self._rewrite(prune))

    async def erase(self, subject_ref: str) -> int:
        def erase(entry: ChainEntry) -> ChainEntry | None:
            return entry.without_erasable() if entry.subject_ref == subject_ref else None

        return await self._locked(lambda: self._rewrite(erase))

    async def close(self) -> None:
        await self._file.aclose()

    async def _locked(self, work: Callable[[], T]) -> T:
        return await self._file.run(
            work, lambda exc: AuditUnavailable(f"the audit file failed: {exc}")
        )

    def _append(self, drafts: Sequence[Draft]) -> list[ChainEntry]:
        key = drafts[-1].hmac_key
        tail = self._current_head(self._file.fd())
        self._check_against_head(tail, key)
        entries = link_all(drafts, tail)
        data = b"".join(orjson.dumps(e.model_dump(mode="json")) + b"\n" for e in entries)
        fd = self._file.write(data, fsync=self._fsync)
        stat = os.fstat(fd)
        self._tail = ((stat.st_ino, stat.st_size), entries[-1].head)
        self._write_head(entries[-1].head, key)
        return entries

    def _check_against_head(self, tail: ChainHead, key: bytes | None) -> None:
        """The chain must reach its head, and the head be the trail's own."""
        recorded = self._read_head()
        head = recorded.head
        if head is None:
            if tail.seq:  # an older chain, or a deleted head: adopted, and said so
                log.warning("audit.head_missing", path=str(self.path), adopted_seq=tail.seq)
            return
        signed = recorded.hmac
        if (
            key is not None
            and signed is not None
            and not hmac.compare_digest(sign_head(key, head), signed)
        ):
            raise AuditUnavailable(
                f"the head of the audit file {self.path} is not signed with the audit key; "
                "appends stop until `audit verify` has been looked into"
            )
        if head == tail or (tail.seq > head.seq and self._hash_at(head.seq) == head.hash):
            return
        raise AuditUnavailable(
            f"the audit file {self.path} ends at seq {tail.seq} but its head is seq "
            f"{head.seq}: records were removed from its end, or the head was changed; "
            "appends stop until `audit verify` has been looked into"
        )

    def _read_head(self) -> HeadRecord:
        try:
            stat = os.stat(self._head_path)
        except FileNotFoundError:
            self._head = None
            return HeadRecord(None)
        key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if self._head is not None and self._head[0] == key:
            return self._head[1]
        try:
            stored = _HeadFile.model_validate_json(self._head_path.read_bytes())
        except ValidationError:  # unreadable: as good as missing, and reported as such
            return HeadRecord(None)
        record = HeadRecord(ChainHead(seq=stored.seq, hash=stored.hash), stored.hmac)
        self._head = (key, record)
        return record

    def _write_head(self, head: ChainHead, key: bytes | None) -> None:
        signature = sign_head(key, head) if key is not None else None
        payload = orjson.dumps({"seq": head.seq, "hash": head.hash, "hmac": signature})
        with replacement(self._head_path, fsync=self._fsync) as out:
            out.write(payload)
        stat = os.stat(self._head_path)
        self._head = ((stat.st_ino, stat.st_size, stat.st_mtime_ns), HeadRecord(head, signature))

    def _tenants(self) -> set[str]:
        found: set[str] = set()
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return found
        with handle:
            for line in handle:
                # A line of a tenant already found changes nothing: only its tenant is read
                # (a few us, not the ~20 us of validating the entry).
                if _tenant_of(line) in found:
                    continue
                item = _parse(line, 0)
                if isinstance(item, ChainEntry) and item.tenant is not None and not item.pruned:
                    found.add(item.tenant)
        return found

    def _hash_at(self, seq: int) -> str | None:
        """The hash of the entry ``seq`` (a slow scan: only when the head lags the chain)."""
        with self.path.open("rb") as handle:
            for line in handle:
                item = _parse(line, 0)
                if isinstance(item, ChainEntry) and item.seq == seq:
                    return item.hash
        return None

    def _current_head(self, fd: int) -> ChainHead:
        stat = os.fstat(fd)
        if stat.st_size == 0:
            return EMPTY
        key = (stat.st_ino, stat.st_size)
        if self._tail is not None and self._tail[0] == key:
            return self._tail[1]
        with self.path.open("rb") as handle:
            last = _last_line(handle, stat.st_size)
        if last is None:
            return EMPTY
        item = _parse(last, 0)
        if not isinstance(item, ChainEntry):
            # Linking to a guess would hide the damage; appending stops until it is repaired.
            raise AuditUnavailable(
                f"the audit file {self.path} ends in a damaged line; run `audit verify`"
            )
        self._tail = (key, item.head)
        return item.head

    def _rewrite(self, change: Callable[[ChainEntry], ChainEntry | None]) -> int:
        if not self.path.exists():
            return 0
        changed = 0
        with (
            self.path.open("rb") as source,
            replacement(self.path) as target,
        ):
            for line in source:
                item = _parse(line, 0)
                new = change(item) if isinstance(item, ChainEntry) else None
                if new is None:
                    target.write(line)
                else:
                    changed += 1
                    target.write(orjson.dumps(new.model_dump(mode="json")) + b"\n")
        self._tail = None
        self._file.close_file()  # renamed over: the next append opens the new file
        return changed


def _read_lines(handle: BinaryIO, count: int) -> list[bytes]:
    lines: list[bytes] = []
    while len(lines) < count:
        line = handle.readline()
        if not line:
            break
        lines.append(line)
    return lines


def _last_line(handle: BinaryIO, size: int) -> bytes | None:
    """The last non-empty line, read backwards in blocks (the file can be large)."""
    end, data = size, b""
    while end > 0:
        start = max(0, end - _TAIL_BLOCK)
        handle.seek(start)
        data = handle.read(end - start) + data
        end = start
        stripped = data.rstrip(b"\n")
        if b"\n" in stripped or end == 0:
            return stripped.rsplit(b"\n", 1)[-1] or None
    return None


def _tenant_of(line: bytes) -> str | None:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    tenant = data.get("tenant") if isinstance(data, dict) else None
    return tenant if isinstance(tenant, str) else None


def _parse(line: bytes, number: int) -> ChainEntry | Unreadable | None:
    if not line.strip():
        return None
    try:
        return ChainEntry.model_validate(orjson.loads(line))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        return Unreadable(f"line {number}", str(exc).splitlines()[0])
