"""A JSON Lines file that several processes append to and that rewrites replace atomically.

Used by the audit file sink, the content log and the ledger's disk spool. The mechanics:

- ``SharedAppendFile.locked(work)`` runs ``work`` under ``flock`` on ``<file>.lock`` beside
  the file (one writer across processes, e.g. uvicorn workers sharing the folder). The lock
  file stays open between calls; its folder is created once.
- ``SharedAppendFile.fd()`` is the file, open for appending and kept open. A rewrite by any
  process renames a new file over it; ``fd()`` sees another inode and reopens, so an append
  never lands in a replaced file.
- ``replacement(path)`` is a temporary file in the same folder that replaces ``path`` when
  its block succeeds: fsynced, renamed, the folder fsynced. A crash leaves the old file or
  the new one, never half of each.

``run(work, failed)`` is the async entry: ``work`` in a thread, under this process's asyncio
lock and the flock, with an ``OSError`` turned into the caller's own exception.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TypeVar

T = TypeVar("T")


class SharedAppendFile:
    def __init__(self, path: Path, mode: int = 0o600) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._mode = mode
        self._lock_fd: int | None = None  # kept open: the flock is taken on it
        self._out: tuple[int, int] | None = None  # (fd, inode) of the open file
        self._async_lock = asyncio.Lock()  # one user of the handles at a time per process

    async def run(self, work: Callable[[], T], failed: Callable[[OSError], Exception]) -> T:
        """``work`` in a thread, under the asyncio lock and the flock; an ``OSError`` is
        raised as ``failed(error)``."""
        async with self._async_lock:
            try:
                return await asyncio.to_thread(self.locked, work)
            except OSError as exc:
                raise failed(exc) from exc

    async def aclose(self) -> None:
        async with self._async_lock:
            self.close()

    def locked(self, work: Callable[[], T]) -> T:
        if self._lock_fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            self._lock_fd = os.open(self._lock_path, flags, self._mode)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            return work()
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def fd(self, *, readable: bool = False) -> int:
        """The file, open for appending (and reading with ``readable``, for ``os.pread``):
        reopened if a rewrite replaced it since. Call under ``locked``."""
        try:
            inode: int | None = os.stat(self.path).st_ino
        except FileNotFoundError:
            inode = None
        if self._out is not None and self._out[1] == inode:
            return self._out[0]
        self.close_file()
        access = os.O_RDWR if readable else os.O_WRONLY
        fd = os.open(self.path, access | os.O_APPEND | os.O_CREAT, self._mode)
        self._out = (fd, os.fstat(fd).st_ino)
        return fd

    def write(self, data: bytes, *, fsync: bool, readable: bool = False) -> int:
        """Append ``data`` with one ``write`` (more only after a short write); returns the fd."""
        fd = self.fd(readable=readable)
        written = os.write(fd, data)
        while written < len(data):  # a short write (a full disk raises instead)
            written += os.write(fd, data[written:])
        if fsync:
            os.fsync(fd)
        return fd

    def close_file(self) -> None:
        """Close the data file (after this process's own rewrite, or at the end)."""
        if self._out is not None:
            os.close(self._out[0])
            self._out = None

    def close(self) -> None:
        self.close_file()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


@contextmanager
def replacement(path: Path, mode: int | None = None, *, fsync: bool = True) -> Iterator[BinaryIO]:
    """A temporary file that replaces ``path`` (atomically, durably) if the block succeeds;
    ``mode``: its permissions (else mkstemp's 0o600). The temporary name ends in ``.tmp``, so
    nothing that reads the folder's ``*.jsonl`` ever reads it. ``fsync=False`` (tests,
    benchmarks) keeps the atomic rename and drops the durability."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            if mode is not None:
                os.fchmod(out.fileno(), stat.S_IMODE(mode))
            yield out
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    if not fsync:
        return
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
