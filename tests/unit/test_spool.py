"""The disk spool: records that could not reach Redis, kept on disk until a replay sends them."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.core.limits import Limits, scopes_for
from gateway.metering.spool import DiskSpool, SpoolEntry
from tests.records import usage_record


def entry(request_id: str, tenant: str = "acme", subject_ref: str | None = None) -> SpoolEntry:
    record = usage_record(
        tenant,
        request_id,
        subject_ref=subject_ref,
        stream=True,
        prompt_tokens=12,
        completion_tokens=30,
        estimated_tokens=300,
        started_at=1_700_000_000.5,
        ttft_ms=35.5,
        duration_ms=1200.0,
        gateway="gw-1",
        admitted_shared=False,
    )
    scopes = scopes_for(
        tenant,
        Limits(requests_per_minute=60, tokens_per_minute=10_000),
        "k1",
        Limits(tokens_per_minute=500, concurrent=2),
    )
    return SpoolEntry.of(record, scopes)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    with open(path, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield


class Sink:
    """A ``send`` that records what it was given, and can fail on its n-th call."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls = 0
        self.sent: list[SpoolEntry] = []
        self.fail_on_call = fail_on_call

    async def __call__(self, spooled: SpoolEntry) -> bool:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise ConnectionError("redis is still down")
        self.sent.append(spooled)
        return True

    @property
    def ids(self) -> list[str]:
        return [e.record.request_id for e in self.sent]


def test_an_entry_keeps_the_record_and_what_its_scopes_need_to_settle() -> None:
    spooled = entry("r-1")
    assert [(s.name, s.tokens_per_minute) for s in spooled.scopes] == [
        ("tenant", 10_000),
        ("key:k1", 500),
    ]
    # What settling needs (requests per minute is settled by nothing and is not kept).
    settle = spooled.settle_scopes()
    assert [s.name for s in settle] == ["tenant", "key:k1"]
    assert [s.limits.tokens_per_minute for s in settle] == [10_000, 500]
    assert all(s.limits.requests_per_minute == 0 for s in settle)
    again = SpoolEntry.model_validate(orjson.loads(orjson.dumps(spooled.model_dump(mode="json"))))
    assert again == spooled
    assert again.record.admitted_shared is False


async def test_append_pending_and_replay(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    spool = DiskSpool(folder, "gw-1")
    assert spool.pending() == 0  # no folder yet
    assert await spool.replay(Sink()) == 0
    assert spool.path == folder / "gw-1.jsonl"

    entries = [entry(f"r-{n}") for n in range(4)]
    for spooled in entries:
        spool.append(spooled)
    assert spool.pending() == 4
    lines = spool.path.read_bytes().splitlines()
    assert len(lines) == 4
    assert orjson.loads(lines[2])["record"]["request_id"] == "r-2"

    sink = Sink()
    assert await spool.replay(sink) == 4
    assert sink.sent == entries  # in the order they were spooled, intact
    assert not spool.path.exists()
    assert spool.pending() == 0
    assert await spool.replay(sink) == 0
    assert sink.calls == 4


async def test_a_failed_replay_keeps_the_file_and_the_next_one_sends_everything(
    tmp_path: Path,
) -> None:
    spool = DiskSpool(tmp_path, "gw-1")
    for n in range(5):
        spool.append(entry(f"r-{n}"))

    failing = Sink(fail_on_call=3)
    with pytest.raises(ConnectionError):
        await spool.replay(failing)
    assert failing.calls == 3
    assert failing.ids == ["r-0", "r-1"]
    assert spool.path.exists()
    assert spool.pending() == 5  # nothing dropped: the two sent go again (the store dedups)

    retry = Sink()
    assert await spool.replay(retry) == 5
    assert retry.calls == 5
    assert retry.ids == [f"r-{n}" for n in range(5)]
    assert not spool.path.exists()
    assert spool.pending() == 0


async def test_one_replay_sends_the_files_of_every_process(tmp_path: Path) -> None:
    first, second = DiskSpool(tmp_path, "gw-1"), DiskSpool(tmp_path, "gw-2")
    first.append(entry("a-1"))
    second.append(entry("b-1"))
    first.append(entry("a-2"))
    second.append(entry("b-2"))
    second.append(entry("b-3"))
    assert first.path != second.path
    assert first.pending() == second.pending() == 5  # pending counts the whole folder

    sink = Sink()
    assert await second.replay(sink) == 5
    assert sorted(sink.ids) == ["a-1", "a-2", "b-1", "b-2", "b-3"]
    assert sink.ids.index("a-1") < sink.ids.index("a-2")
    assert sink.ids.index("b-1") < sink.ids.index("b-2") < sink.ids.index("b-3")
    assert not first.path.exists()
    assert not second.path.exists()
    assert first.pending() == 0


async def test_a_file_locked_by_another_process_is_left_alone(tmp_path: Path) -> None:
    busy, free = DiskSpool(tmp_path, "gw-busy"), DiskSpool(tmp_path, "gw-free")
    busy.append(entry("busy-1"))
    free.append(entry("free-1"))
    with locked(busy.path):  # as a replay or an append in another process would
        sink = Sink()
        assert await free.replay(sink) == 1
        assert sink.ids == ["free-1"]
        assert busy.path.exists()
    later = Sink()
    assert await free.replay(later) == 1
    assert later.ids == ["busy-1"]
    assert not busy.path.exists()


async def test_append_after_a_replay_removed_the_file_starts_a_new_one(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path / "nested" / "spool", "gw-1")
    spool.append(entry("before"))
    assert await spool.replay(Sink()) == 1
    assert not spool.path.exists()

    spool.append(entry("after"))
    assert spool.path.exists()
    assert spool.pending() == 1
    lines = spool.path.read_bytes().splitlines()
    assert [orjson.loads(line)["record"]["request_id"] for line in lines] == ["after"]
    # Another process's replay reading this folder sees only the new line.
    sink = Sink()
    assert await DiskSpool(spool.path.parent, "gw-other").replay(sink) == 1
    assert sink.ids == ["after"]


async def test_an_append_waiting_on_a_replay_goes_to_a_new_file(tmp_path: Path) -> None:
    """An appender blocked on the lock while a replay empties and removes the file must not
    write into the removed file (its line would be lost): it opens the new one."""
    spool = DiskSpool(tmp_path, "gw-1")
    spool.append(entry("first"))
    sink = Sink()
    waiting: list[asyncio.Future[None]] = []

    async def send_while_an_append_waits(spooled: SpoolEntry) -> bool:
        # The replay holds the file's lock here: an append in a thread has to wait for it.
        append = asyncio.ensure_future(asyncio.to_thread(spool.append, entry("during")))
        waiting.append(append)
        await asyncio.sleep(0.2)
        assert not append.done()
        return await sink(spooled)

    assert await spool.replay(send_while_an_append_waits) == 1
    await asyncio.wait_for(waiting[0], timeout=5)
    assert sink.ids == ["first"]
    assert spool.pending() == 1
    final = Sink()
    assert await spool.replay(final) == 1
    assert final.ids == ["during"]


async def test_two_replays_at_once_each_send_what_they_find(tmp_path: Path) -> None:
    gw1, gw2 = DiskSpool(tmp_path, "gw-1"), DiskSpool(tmp_path, "gw-2")
    gw1.append(entry("a-1"))
    gw2.append(entry("b-1"))
    other = Sink()

    async def send(spooled: SpoolEntry) -> bool:
        # Meanwhile, another replica's replay: gw-1.jsonl is locked by us, so it takes gw-2.jsonl
        if not other.calls:
            assert await DiskSpool(tmp_path, "gw-3").replay(other) == 1
        return True

    assert await gw1.replay(send) == 1  # gw-2.jsonl vanished after listing: skipped
    assert other.ids == ["b-1"]


async def test_a_replay_never_removes_a_file_it_did_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = DiskSpool(tmp_path, "gw-1")
    owner.append(entry("a-1"))
    real_flock = fcntl.flock
    other = Sink()
    interleaved = False

    def flock(handle: Any, op: int) -> None:
        nonlocal interleaved
        if op & fcntl.LOCK_NB and not interleaved:
            interleaved = True

            # Replica B opened gw-1.jsonl and is descheduled before its flock. Meanwhile
            # replica A replays and removes the file, then gw-1 appends a new record.
            def meanwhile() -> None:
                assert asyncio.run(DiskSpool(tmp_path, "gw-2").replay(other)) == 1
                owner.append(entry("a-2"))

            t = threading.Thread(target=meanwhile)
            t.start()
            t.join()
        real_flock(handle, op)

    monkeypatch.setattr(fcntl, "flock", flock)  # the module spool imports
    late = Sink()
    await DiskSpool(tmp_path, "gw-3").replay(late)
    assert other.ids == ["a-1"]
    # a-2 went to a new file that this replay never read: it must still be on disk
    assert late.ids == []
    assert owner.pending() == 1


SUBJECT_A, SUBJECT_B = "a1" * 32, "b2" * 32


def spooled_records(spool: DiskSpool) -> list[tuple[str, str | None]]:
    """(request id, subject ref) of every spooled line, file by file, in order."""
    return [
        (line["record"]["request_id"], line["record"]["subject_ref"])
        for path in sorted(spool.path.parent.glob("*.jsonl"))
        for line in map(orjson.loads, path.read_bytes().splitlines())
    ]


def test_erasing_a_subject_removes_its_reference_and_keeps_the_entries(tmp_path: Path) -> None:
    first, second = DiskSpool(tmp_path, "gw-1"), DiskSpool(tmp_path, "gw-2")
    assert DiskSpool(tmp_path / "none", "gw-1").erase_subject(SUBJECT_A) == 0  # no folder
    first.append(entry("a-1", subject_ref=SUBJECT_A))
    first.append(entry("a-2", subject_ref=SUBJECT_B))
    second.append(entry("b-1", tenant="other", subject_ref=SUBJECT_A))
    first.append(entry("a-3"))
    first.append(entry("a-4", subject_ref=SUBJECT_A))
    second.append(entry("b-2"))
    os.chmod(second.path, 0o640)
    untouched = DiskSpool(tmp_path, "gw-3")
    untouched.append(entry("c-1", subject_ref=SUBJECT_B))  # nothing of A: not rewritten
    inode = os.stat(untouched.path).st_ino

    assert first.erase_subject(SUBJECT_A) == 3  # every file in the folder, like replay
    assert spooled_records(first) == [
        ("a-1", None),
        ("a-2", SUBJECT_B),
        ("a-3", None),
        ("a-4", None),
        ("b-1", None),
        ("b-2", None),
        ("c-1", SUBJECT_B),
    ]
    assert os.stat(untouched.path).st_ino == inode
    assert os.stat(second.path).st_mode & 0o777 == 0o640
    # No temporary file left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gw-1.jsonl", "gw-2.jsonl", "gw-3.jsonl"]
    assert first.pending() == 7
    assert first.erase_subject(SUBJECT_A) == 0
    for ref in ["ABCDEF", "", "*", "a1-b2"]:
        with pytest.raises(ValueError, match="lowercase hex"):
            first.erase_subject(ref)


async def test_a_replay_after_an_erasure_sends_the_entries_intact(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, "gw-1")
    written = [
        entry("r-1", subject_ref=SUBJECT_A),
        entry("r-2", subject_ref=SUBJECT_B),
        entry("r-3"),
        entry("r-4", tenant="other", subject_ref=SUBJECT_A),
    ]
    for spooled in written:
        spool.append(spooled)
    assert await asyncio.to_thread(spool.erase_subject, SUBJECT_A) == 2

    sink = Sink()
    assert await spool.replay(sink) == 4
    # Same entries in the same order (tokens, times, scopes), only A's reference gone.
    for sent, spooled in zip(sink.sent, written, strict=True):
        if spooled.record.subject_ref == SUBJECT_A:
            record = spooled.record.model_copy(update={"subject_ref": None})
            spooled = spooled.model_copy(update={"record": record})
        assert sent == spooled


def test_an_append_waiting_on_an_erasure_is_kept(tmp_path: Path) -> None:
    """Whichever gets the lock first, a line appended while an erasure runs is not lost: it
    goes into the old file before the erasure reads it, or into the file that replaced it."""
    spool = DiskSpool(tmp_path, "gw-1")
    spool.append(entry("before", subject_ref=SUBJECT_A))
    results: list[int] = []
    with locked(spool.path):  # a replay or an append elsewhere holds the file
        erasing = threading.Thread(target=lambda: results.append(spool.erase_subject(SUBJECT_A)))
        appending = threading.Thread(target=spool.append, args=[entry("during")])
        erasing.start()
        appending.start()
        time.sleep(0.2)
        assert erasing.is_alive()  # both wait for the lock
        assert appending.is_alive()
    erasing.join(timeout=5)
    appending.join(timeout=5)
    assert results == [1]
    assert spooled_records(spool) == [("before", None), ("during", None)]
