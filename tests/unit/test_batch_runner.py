"""The batch runner's decisions, through its seams: a fake line caller (what the request path
answered) and the real directory store. How a line's answer is read, retries of refusals for
the moment, cancel, expiry, resuming after a restart, leases, a revoked key."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.batches import decisions
from gateway.batches.directory_store import DirectoryBatchStore
from gateway.batches.jsonl_input import BatchLine, check_upload, parse_requests
from gateway.batches.line import LineAnswer
from gateway.batches.models import LineResult, StoredBatch, StoredFile, new_batch_id, new_file_id
from gateway.batches.runner import BatchRunner
from gateway.core.limits import Limits, Scope
from gateway.core.tenant import Principal, Tenant
from gateway.errors import InvalidRequest
from gateway.pipeline.endpoints import Endpoint
from gateway.settings import BatchSettings

T0 = 1_700_000_000.0
PRINCIPAL = Principal(Tenant("acme", frozenset({"DE"}), None), "k1")
SETTINGS = BatchSettings(poll_interval=0.01, retry_after=0.01, retry_max=0.05, lease_seconds=1)

Answer = Callable[[str, int], LineAnswer | None]  # (custom_id, attempt) -> answer; None: wait


def ok(custom_id: str) -> LineAnswer:
    body = {"id": custom_id, "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    return LineAnswer(200, "req_" + custom_id, body)


class FakeCaller:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.calls: list[str] = []
        self._called = asyncio.Condition()

    async def reached(self, count: int) -> None:
        async with self._called:
            await self._called.wait_for(lambda: len(self.calls) >= count)

    async def call(
        self,
        principal: Principal,
        endpoint: Endpoint,
        body: dict[str, Any],
        subject: str | None,
        stop: asyncio.Event,
    ) -> LineAnswer:
        custom_id = body["messages"][0]["content"]
        attempt = self.calls.count(custom_id)
        self.calls.append(custom_id)
        async with self._called:
            self._called.notify_all()
        answer = self.answer(custom_id, attempt)
        if answer is None:  # in flight until the client leaves
            await stop.wait()
            return LineAnswer(499, "req_x", None)
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _line(custom_id: str) -> bytes:
    body = {"model": "m", "messages": [{"role": "user", "content": custom_id}]}
    line = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    return orjson.dumps(line) + b"\n"


async def _batch(store: DirectoryBatchStore, *ids: str, status: str = "validating") -> StoredBatch:
    content = b"".join(_line(i) for i in ids)
    file = StoredFile(id=new_file_id(), tenant="acme", delete_after=T0 + 1e6, bytes=len(content),
                      created_at=int(T0), filename="r.jsonl", purpose="batch")  # fmt: skip
    await store.put_file(file, content)
    batch = StoredBatch(
        id=new_batch_id(), tenant="acme", key_id="k1", delete_after=T0 + 1e6,
        endpoint="/v1/chat/completions", input_file_id=file.id, completion_window="24h",
        status=status, created_at=int(T0), expires_at=int(T0) + 86_400,
    )  # fmt: skip
    await store.put_batch(batch)
    return batch


def _runner(
    store: DirectoryBatchStore,
    caller: FakeCaller,
    clock: Clock,
    owner: str = "w1",
    principal: Principal | None = PRINCIPAL,
) -> BatchRunner:
    return BatchRunner(store, caller, lambda _key: principal, SETTINGS, owner, clock)


async def _run(runner: BatchRunner) -> None:
    await runner.tick()
    await runner.wait()


async def _file(store: DirectoryBatchStore, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    content = await store.content("acme", file_id)
    assert content is not None
    return [orjson.loads(x) for x in content.splitlines()]


@pytest.fixture
def store(tmp_path: Path) -> DirectoryBatchStore:
    return DirectoryBatchStore(tmp_path / "store")


async def test_refusals_for_the_moment_are_tried_again_and_other_errors_are_kept(
    store: DirectoryBatchStore,
) -> None:
    def answer(custom_id: str, attempt: int) -> LineAnswer:
        if custom_id == "limited" and attempt < 2:
            return LineAnswer(429, "req_l", {"error": {}}, {"retry-after": "0.01"})
        if custom_id == "bad":
            return LineAnswer(400, "req_b", {"error": {"message": "no"}})
        return ok(custom_id)

    caller = FakeCaller(answer)
    batch = await _batch(store, "a", "limited", "bad")
    await _run(_runner(store, caller, Clock()))
    done = await store.batch("acme", batch.id)
    assert done is not None
    assert done.status == "completed"
    assert caller.calls.count("limited") == 3
    assert caller.calls.count("bad") == 1
    assert (done.request_counts.completed, done.request_counts.failed) == (2, 1)
    assert done.usage is not None
    assert done.usage["total_tokens"] == 10
    assert [x["custom_id"] for x in await _file(store, done.output_file_id)] == ["a", "limited"]
    [error] = await _file(store, done.error_file_id)
    assert error["custom_id"] == "bad"
    assert error["response"]["status_code"] == 400


async def test_a_cancel_aborts_lines_in_flight_and_keeps_what_finished(
    store: DirectoryBatchStore,
) -> None:
    caller = FakeCaller(lambda custom_id, _: ok(custom_id) if custom_id == "a" else None)
    batch = await _batch(store, "a", "b", "c", "d", "e", "f")
    runner = _runner(store, caller, Clock())
    await runner.tick()
    await asyncio.wait_for(caller.reached(5), 5)  # a answered; four in flight (concurrency 4)
    await store.request_cancel("acme", batch.id, int(T0))
    await runner.wait()
    done = await store.batch("acme", batch.id)
    assert done is not None
    assert done.status == "cancelled"
    assert done.cancelled_at is not None
    assert "f" not in caller.calls  # never sent
    assert [x["custom_id"] for x in await _file(store, done.output_file_id)] == ["a"]
    errors = await _file(store, done.error_file_id)
    assert [x["custom_id"] for x in errors] == ["b", "c", "d", "e", "f"]
    assert {x["error"]["code"] for x in errors} == {"batch_cancelled"}
    assert (done.request_counts.total, done.request_counts.completed) == (6, 1)
    assert done.request_counts.failed == 0


async def test_lines_not_done_when_the_window_ends_expire(store: DirectoryBatchStore) -> None:
    clock = Clock()

    def answer(custom_id: str, attempt: int) -> LineAnswer:
        if custom_id == "a":
            return ok("a")
        if attempt == 1:
            clock.now = T0 + 86_401  # the window ends while it is refused for the moment
        return LineAnswer(429, "req_l", {"error": {}})

    caller = FakeCaller(answer)
    batch = await _batch(store, "a", "limited")
    await _run(_runner(store, caller, clock))
    done = await store.batch("acme", batch.id)
    assert done is not None
    assert done.status == "expired"
    assert done.expired_at is not None
    assert [x["custom_id"] for x in await _file(store, done.output_file_id)] == ["a"]
    [expired] = await _file(store, done.error_file_id)
    assert expired["custom_id"] == "limited"
    assert expired["response"] is None
    assert expired["error"]["code"] == "batch_expired"


async def test_a_restarted_batch_resumes_after_the_lines_it_has(
    store: DirectoryBatchStore,
) -> None:
    caller = FakeCaller(lambda custom_id, _: ok(custom_id))
    batch = await _batch(store, "a", "b", status="in_progress")
    kept = decisions.answered(BatchLine(0, "a", {}), ok("a"))
    await store.add_result("acme", batch.id, kept)
    await _run(_runner(store, caller, Clock()))
    done = await store.batch("acme", batch.id)
    assert done is not None
    assert done.status == "completed"
    assert caller.calls == ["b"]
    assert [x["custom_id"] for x in await _file(store, done.output_file_id)] == ["a", "b"]


async def test_a_batch_whose_lease_another_worker_holds_is_left_to_it(
    store: DirectoryBatchStore,
) -> None:
    caller = FakeCaller(lambda custom_id, _: ok(custom_id))
    batch = await _batch(store, "a")
    assert await store.claim(batch.id, "w2", T0, T0 + 30)
    runner = _runner(store, caller, Clock())
    await _run(runner)
    assert caller.calls == []
    await store.release(batch.id, "w2")
    await _run(runner)
    assert caller.calls == ["a"]


async def test_lines_of_a_revoked_key_fail_as_the_key_would(store: DirectoryBatchStore) -> None:
    caller = FakeCaller(lambda custom_id, _: ok(custom_id))
    batch = await _batch(store, "a")
    await _run(_runner(store, caller, Clock(), principal=None))
    done = await store.batch("acme", batch.id)
    assert done is not None
    assert caller.calls == []
    [error] = await _file(store, done.error_file_id)
    assert error["response"]["status_code"] == 401


async def test_a_batch_whose_input_was_deleted_fails(store: DirectoryBatchStore) -> None:
    batch = await _batch(store, "a")
    await store.delete_file("acme", batch.input_file_id)
    await _run(_runner(store, FakeCaller(lambda c, _: ok(c)), Clock()))
    done = await store.batch("acme", batch.id)
    assert done is not None
    assert done.status == "failed"
    assert done.errors is not None
    assert done.errors[0].code == "input_file_missing"


def test_verdicts_and_retry_delays() -> None:
    assert [decisions.verdict(s) for s in (200, 400, 401, 404, 429, 499, 500, 502, 503)] == [
        "output", "error", "error", "error", "retry", "stopped", "error", "error", "retry",
    ]  # fmt: skip
    assert decisions.retry_delay(0, None, 1.0, 60.0) == 1.0
    assert decisions.retry_delay(3, None, 1.0, 60.0) == 8.0
    assert decisions.retry_delay(10, None, 1.0, 60.0) == 60.0
    assert decisions.retry_delay(0, "7", 1.0, 60.0) == 7.0
    assert decisions.retry_delay(2, "soon", 1.0, 60.0) == 4.0
    assert decisions.delete_after(0.0, None, 30) == 30 * 86_400
    assert decisions.delete_after(0.0, 7, 30) == 7 * 86_400
    assert decisions.delete_after(0.0, 90, 30) == 30 * 86_400
    assert decisions.ending(False, 0, T0, T0 + 1) == "completed"
    assert decisions.ending(False, 2, T0, T0 + 1) is None
    assert decisions.ending(False, 2, T0 + 1, T0 + 1) == "expired"
    assert decisions.ending(True, 2, T0, T0 + 1) == "cancelled"
    results = [LineResult(index=1, ok=True, line={"n": 1}), LineResult(index=0, ok=True, line={})]
    assert decisions.result_file(results) == b'{}\n{"n":1}\n'


def test_input_lines_are_checked_as_openai_does() -> None:
    good = _line("a")
    lines, errors = parse_requests(good + b"\n" + _line("b"), "/v1/chat/completions")
    assert [(x.index, x.custom_id) for x in lines] == [(0, "a"), (1, "b")]
    assert errors == []
    streamed = orjson.dumps(
        {"custom_id": "s", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "m", "stream": True}}
    )  # fmt: skip
    _, errors = parse_requests(
        b"[]\n" + streamed + b"\n" + b'{"custom_id": 3}', "/v1/chat/completions"
    )
    assert [(e.code, e.line) for e in errors] == [
        ("invalid_json_line", 1), ("invalid_value", 2), ("missing_required_parameter", 3),
    ]  # fmt: skip
    _, errors = parse_requests(b"", "/v1/chat/completions")
    assert [e.code for e in errors] == ["empty_file"]
    with pytest.raises(InvalidRequest, match="Line 2"):
        check_upload(good + b"[1]\n", 10)


async def test_a_batch_cancelled_or_expired_before_it_starts_sends_nothing(
    store: DirectoryBatchStore,
) -> None:
    caller, clock = FakeCaller(lambda custom_id, _: ok(custom_id)), Clock()
    cancelled = await _batch(store, "a")
    await store.request_cancel("acme", cancelled.id, int(T0))
    await _run(_runner(store, caller, clock))
    clock.now = T0 + 86_400  # the next one waited for a worker until its window ended
    late = await _batch(store, "b")
    await _run(_runner(store, caller, clock))
    assert caller.calls == []
    ended = [await store.batch("acme", b.id) for b in (cancelled, late)]
    assert [b.status for b in ended if b is not None] == ["cancelled", "expired"]


async def test_the_runner_deletes_what_retention_has_ended(store: DirectoryBatchStore) -> None:
    clock = Clock()
    batch = await _batch(store, "a", status="completed")
    await _run(_runner(store, FakeCaller(lambda c, _: ok(c)), clock))
    assert await store.batch("acme", batch.id) is not None
    clock.now = T0 + 1e6 + 1  # past its delete_after (and its input file's)
    await _run(_runner(store, FakeCaller(lambda c, _: ok(c)), clock))
    assert await store.batch("acme", batch.id) is None
    assert await store.file("acme", batch.input_file_id) is None


def test_a_batch_runs_as_its_key_only_while_the_key_is_valid() -> None:
    from gateway.auth import KeyRing, hash_key

    live = Principal(PRINCIPAL.tenant, "live")
    ended = Principal(PRINCIPAL.tenant, "ended", expires_at=T0)  # revoked, grace over
    ring = KeyRing([(hash_key("a"), live), (hash_key("b"), ended)], None)
    assert ring.of_key("live") == live
    assert ring.of_key("ended") is None
    assert ring.of_key("unknown") is None


@pytest.mark.parametrize(("concurrent", "most"), [(4, 2), (3, 1), (1, 1), (0, 8)])
async def test_a_tenants_batches_leave_half_its_concurrency_to_interactive_requests(
    store: DirectoryBatchStore, concurrent: int, most: int
) -> None:
    """A tenant (or key) with a concurrency limit of n: its batches run at most n // 2 lines
    at once (at least one) on a worker, however many batches, so that interactive requests
    keep the rest; without a limit, ``concurrency`` per batch (two batches here)."""
    limits = Limits(concurrent=concurrent)
    principal = Principal(PRINCIPAL.tenant, "k1", (Scope("acme", "tenant", limits),))
    in_flight, seen = 0, 0

    class Slow(FakeCaller):
        async def call(self, *args: Any, **kwargs: Any) -> LineAnswer:
            nonlocal in_flight, seen
            in_flight += 1
            seen = max(seen, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return await super().call(*args, **kwargs)

    caller = Slow(lambda custom_id, _attempt: ok(custom_id))
    settings = SETTINGS.model_copy(update={"concurrency": 4, "max_active": 2})
    runner = BatchRunner(store, caller, lambda _key: principal, settings, "w1", Clock())
    await _batch(store, *(f"a{i}" for i in range(8)))
    await _batch(store, *(f"b{i}" for i in range(8)))
    await _run(runner)
    assert len(caller.calls) == 16
    assert seen == most
