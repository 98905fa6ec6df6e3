"""The runner: every worker runs the batches it holds a lease on, as an asyncio task.

Each worker looks for unfinished batches every ``poll_interval`` and claims one it can run
(at most ``max_active``) with a lease in the store, renewed while it runs: two workers or
replicas never run the same batch, and when a worker dies another takes the batch over once
its lease has ended. The state is the store's: a batch resumes after a restart with the lines
that have no result yet. The same loop deletes what retention has ended.

A batch's lines go through ``LineCaller`` (the request path, at batch priority), at most
``concurrency`` at once, and a tenant's batches together at most half its concurrency limit
on a worker (``decisions.batch_share``): interactive requests keep the other half. A line
refused for the moment (429, 503) is tried again later (``decisions.retry_delay``) until the
completion window ends; other refusals and errors go to the error file. A cancel stops the
lines not yet sent and aborts those in flight (the engine stops, as for a client that
leaves; what they used is metered); when the window ends, the lines not done are written to
the error file as ``batch_expired`` and the batch is ``expired``. Either way, what finished
is in the output file.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable

import structlog

from gateway.batches import decisions
from gateway.batches.jsonl_input import BatchLine, parse_requests
from gateway.batches.line import Caller, LineAnswer
from gateway.batches.models import LineError, LineResult, StoredBatch, StoredFile, new_file_id
from gateway.batches.store import BatchStore
from gateway.core.tenant import Principal
from gateway.pipeline.endpoints import ENDPOINTS
from gateway.settings import BatchSettings

log = structlog.get_logger("gateway.batches")
_BY_PATH = {e.path: e for e in ENDPOINTS}
SWEEP_INTERVAL = 60.0


class BatchRunner:
    def __init__(
        self,
        store: BatchStore,
        caller: Caller,
        principal_of: Callable[[str], Principal | None],
        settings: BatchSettings,
        owner: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._caller = caller
        self._principal_of = principal_of
        self._settings = settings
        self._owner = owner
        self._clock = clock
        self._running: dict[str, asyncio.Task[None]] = {}
        self._swept = 0.0
        # Per tenant and share: lines of its batches in flight on this worker.
        self._shares: dict[tuple[str, int], asyncio.Semaphore] = {}

    def share(self, principal: Principal) -> contextlib.AbstractAsyncContextManager[object]:
        """Held while one of the tenant's lines is in flight (nothing without a limit)."""
        size = decisions.batch_share(principal.scopes)
        if size is None:
            return contextlib.nullcontext()
        key = (principal.tenant.id, size)
        if key not in self._shares:
            self._shares[key] = asyncio.Semaphore(size)
        return self._shares[key]

    async def run_forever(self) -> None:
        try:
            while True:
                try:
                    await self.tick()
                except Exception:  # the store is down: try again at the next tick
                    log.exception("batches.tick_failed")
                await asyncio.sleep(self._settings.poll_interval)
        finally:
            for task in self._running.values():
                task.cancel()
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def tick(self) -> None:
        now = self._clock()
        if now - self._swept >= SWEEP_INTERVAL:
            self._swept = now
            deleted = await self._store.delete_expired(now)
            if deleted:
                log.info("batches.retention_deleted", count=deleted)
        for batch in await self._store.unfinished():
            if len(self._running) >= self._settings.max_active:
                return
            if batch.id in self._running:
                continue
            if await self._store.claim(batch.id, self._owner, now, self._lease_end()):
                task = asyncio.create_task(self._run(batch))
                self._running[batch.id] = task

    def _lease_end(self) -> float:
        return self._clock() + self._settings.lease_seconds

    async def wait(self) -> None:
        """Until every batch this worker runs now has stopped (tests)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def _run(self, batch: StoredBatch) -> None:
        try:
            await BatchRun(self, batch).run()
        except Exception:
            log.exception("batches.run_failed", batch=batch.id, tenant=batch.tenant)
        finally:
            self._running.pop(batch.id, None)
            try:
                await self._store.release(batch.id, self._owner)
            except Exception:  # the lease ends by itself
                log.warning("batches.release_failed", batch=batch.id)


class BatchRun:
    """One batch, run by the worker that holds its lease."""

    def __init__(self, runner: BatchRunner, batch: StoredBatch) -> None:
        self._r = runner
        self._store = runner._store
        self.batch = batch
        self._stop = asyncio.Event()  # set: cancelled, expired, or the lease was lost
        self._cancelled = False
        self._lost = False

    async def _save(self, **changes: object) -> None:
        self.batch = self.batch.model_copy(update=changes)
        if not await self._store.update_batch(self.batch):  # erased meanwhile
            self._stop.set()
            self._lost = True

    async def run(self) -> None:
        batch, now = self.batch, int(self._r._clock())
        content = await self._store.content(batch.tenant, batch.input_file_id)
        lines, errors = parse_requests(content or b"", batch.endpoint)
        if content is None:
            lines, errors = (
                [],
                [LineError(code="input_file_missing", message="The input file was deleted.")],
            )
        if batch.status == "validating":
            if errors:
                await self._save(status="failed", failed_at=now, errors=errors)
                return
            model = lines[0].body.get("model")
            await self._save(
                status="in_progress",
                in_progress_at=now,
                model=model if isinstance(model, str) else None,
                request_counts=decisions.counts(len(lines), []),
            )
        elif errors:  # the input went away while it ran
            await self._save(status="failed", failed_at=now, errors=errors)
            return
        done = {r.index for r in await self._store.results(batch.tenant, batch.id)}
        pending = deque(line for line in lines if line.index not in done)
        self._cancelled = batch.cancelling_at is not None  # asked before it started here
        window_open = self._r._clock() < batch.expires_at  # it may have waited for a worker
        if self.batch.status != "finalizing" and pending and window_open and not self._cancelled:
            await self._lines(pending)
        if self._lost:
            return  # another worker holds it now
        await self._finish(lines)

    async def _lines(self, pending: deque[BatchLine]) -> None:
        workers = [
            asyncio.create_task(self._worker(pending))
            for _ in range(min(self._r._settings.concurrency, len(pending)))
        ]
        watch = asyncio.create_task(self._watch())
        try:
            await asyncio.gather(*workers)
        finally:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)

    async def _watch(self) -> None:
        """Renew the lease; notice a cancel (made on any replica) and the window's end."""
        interval = min(1.0, self._r._settings.lease_seconds / 3)
        while not self._stop.is_set():
            await asyncio.sleep(interval)
            batch, now = self.batch, self._r._clock()
            if not await self._store.claim(batch.id, self._r._owner, now, self._r._lease_end()):
                self._lost = True
                self._stop.set()
                return
            stored = await self._store.batch(batch.tenant, batch.id)
            if stored is None or stored.cancelling_at is not None:  # erased, or cancelled
                self._cancelled = True
                self._stop.set()
            elif now >= batch.expires_at:
                self._stop.set()

    async def _worker(self, pending: deque[BatchLine]) -> None:
        while pending and not self._stop.is_set():
            line = pending.popleft()
            result = await self._line(line)
            if result is None:  # stopped before it was answered: it stays pending
                return
            await self._store.add_result(self.batch.tenant, self.batch.id, result)

    async def _line(self, line: BatchLine) -> LineResult | None:
        settings, batch = self._r._settings, self.batch
        endpoint = _BY_PATH[batch.endpoint]
        attempt = 0
        while not self._stop.is_set():
            principal = self._r._principal_of(batch.key_id)
            if principal is None:  # revoked since: the line is refused as the key would be
                return decisions.answered(line, _revoked())
            async with self._r.share(principal):
                if self._stop.is_set():
                    return None
                answer = await self._r._caller.call(
                    principal, endpoint, line.body, batch.subject, self._stop
                )
            verdict = decisions.verdict(answer.status)
            if verdict == "stopped":
                return None
            if verdict != "retry":
                return decisions.answered(line, answer)
            delay = decisions.retry_delay(
                attempt, answer.headers.get("retry-after"), settings.retry_after, settings.retry_max
            )
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
        return None

    async def _finish(self, lines: list[BatchLine]) -> None:
        batch = self.batch
        tenant, now = batch.tenant, self._r._clock()
        if await self._store.batch(tenant, batch.id) is None:
            return  # erased while it ran
        results = await self._store.results(tenant, batch.id)
        done = {r.index for r in results}
        missing = [line for line in lines if line.index not in done]
        status = decisions.ending(self._cancelled or batch.status == "cancelling",
                                  len(missing), now, batch.expires_at)  # fmt: skip
        if status is None:
            return  # the lease was given up with lines left: the next tick resumes it
        if status == "completed":
            await self._save(status="finalizing", finalizing_at=int(now))
        code: decisions.Unrun = "batch_expired" if status == "expired" else "batch_cancelled"
        for line in missing:
            result = decisions.not_run(line, code)
            await self._store.add_result(tenant, batch.id, result)
            results.append(result)
        ok = [r for r in results if r.ok]
        failed = [r for r in results if not r.ok]
        output = await self._file(ok, "output") if ok else None
        error = await self._file(failed, "error") if failed else None
        stamp = {"completed": "completed_at", "expired": "expired_at", "cancelled": "cancelled_at"}
        await self._save(
            status=status,
            output_file_id=output,
            error_file_id=error,
            request_counts=decisions.counts(len(lines), results),
            usage=decisions.usage(ok),
            **{stamp[status]: int(self._r._clock())},
        )
        log.info("batches.ended", batch=batch.id, tenant=tenant, status=status,
                 completed=len(ok), failed=len(failed))  # fmt: skip

    async def _file(self, results: list[LineResult], kind: str) -> str:
        batch = self.batch
        content = decisions.result_file(results)
        file = StoredFile(
            id=new_file_id(),
            tenant=batch.tenant,
            subject_refs=batch.subject_refs,
            delete_after=batch.delete_after,
            bytes=len(content),
            created_at=int(self._r._clock()),
            filename=f"{batch.id}_{kind}.jsonl",
            purpose="batch_output",
            lines=len(results),
        )
        await self._store.put_file(file, content)
        return file.id


def _revoked() -> LineAnswer:
    body = {
        "error": {
            "message": "The API key that created this batch was revoked.",
            "type": "authentication_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    return LineAnswer(401, "", body)
