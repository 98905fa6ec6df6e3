"""The telemetry hub's request path: a finished request is recorded with the next flush (span,
metrics, log line, audit record), never awaited by the request; the audit gets one write per
flush; a record that cannot be written is counted and logged instead of lost silently."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from gateway.audit.file import FileAuditStore
from gateway.audit.service import AuditTrail
from gateway.telemetry.content_log import FileContentLog
from gateway.telemetry.hub import Observability
from tests.records import usage_record
from tests.unit.audit.test_file_sink import CountingStore


def _failures() -> float:
    return REGISTRY.get_sample_value("sovereign_audit_failures_total") or 0.0


def _hub(
    store: FileAuditStore,
    tmp_path: Path,
    interval: float,
    exporter: InMemorySpanExporter,
    processor: SpanProcessor | None = None,
    **options: Any,
) -> Observability:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    if processor is not None:
        provider.add_span_processor(processor)
    trail = AuditTrail(store, None, b"s" * 32)
    content = FileContentLog(tmp_path / "content.jsonl")
    return Observability(provider, trail, content, flush_interval_s=interval, **options)


class LoopTurns(SpanProcessor):
    """Counts the event loop's turns (``count_forever``) and notes the count as each span
    ends: spans that end in one turn were recorded in one slice of the flush."""

    def __init__(self) -> None:
        self.turns = 0
        self.ended_at: list[int] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.ended_at.append(self.turns)

    async def count_forever(self) -> None:
        while True:
            self.turns += 1
            await asyncio.sleep(0)


async def test_requests_are_recorded_together_at_the_next_flush(tmp_path: Path) -> None:
    store, spans = CountingStore(tmp_path / "audit.jsonl"), InMemorySpanExporter()
    hub = _hub(store, tmp_path, 0.2, spans)
    ended = []
    for i in range(5):  # requests ending one after another
        record = usage_record("acme", f"req-{i}")
        span = hub.start("chat.completions", "m", record.request_id, "acme", {}, time.time())
        hub.finished(span, record)  # synchronous: nothing on the request's path waits
        ended.append(time.time_ns())
        await asyncio.sleep(0.01)
    assert store.batches == []
    assert spans.get_finished_spans() == ()
    await asyncio.sleep(0.3)  # the flush interval has passed
    await hub.audit.flush()
    assert store.batches == [5]  # one write, one fsync, for the five
    finished = spans.get_finished_spans()
    assert len(finished) == 5
    for done, end in zip(finished, ended, strict=True):  # ended when the request did
        assert done.end_time is not None
        assert done.end_time <= end
    await hub.close()


@pytest.mark.parametrize(("slice_s", "slices"), [(0.0, 5), (60.0, 1)])
async def test_a_flush_records_in_slices_of_bounded_time_and_writes_once(
    tmp_path: Path, slice_s: float, slices: int
) -> None:
    """Between two slices of a flush the loop runs whatever else is ready (a request): with
    a slice of no time each request is a slice of its own; the batch is still one write."""
    store, turns = CountingStore(tmp_path / "audit.jsonl"), LoopTurns()
    hub = _hub(store, tmp_path, 0.01, InMemorySpanExporter(), turns, slice_s=slice_s)
    counting = asyncio.create_task(turns.count_forever())
    for i in range(5):
        record = usage_record("acme", f"req-{i}")
        hub.finished(
            hub.start("chat.completions", "m", f"req-{i}", "acme", {}, time.time()), record
        )
    await asyncio.sleep(0.05)  # the flush interval has passed
    await hub.audit.flush()
    counting.cancel()

    assert len(turns.ended_at) == 5
    assert len(set(turns.ended_at)) == slices
    assert turns.ended_at == sorted(turns.ended_at)  # oldest first
    assert store.batches == [5]
    await hub.close()


async def test_close_records_what_is_pending(tmp_path: Path) -> None:
    hub = _hub(FileAuditStore(tmp_path / "audit.jsonl"), tmp_path, 60.0, InMemorySpanExporter())
    record = usage_record("acme", "req-1")
    hub.finished(hub.start("chat.completions", "m", "req-1", "acme", {}, time.time()), record)
    assert not (tmp_path / "audit.jsonl").exists()
    await hub.close()  # a clean shutdown loses nothing
    assert b'"req-1"' in (tmp_path / "audit.jsonl").read_bytes()


async def test_an_unwritable_audit_sink_is_counted_and_logged(tmp_path: Path) -> None:
    # A folder where the file should be: every append fails.
    hub = _hub(FileAuditStore(tmp_path), tmp_path, 0.0, InMemorySpanExporter())
    before = _failures()
    with capture_logs() as logs:
        record = usage_record("acme", "req-2")
        hub.finished(hub.start("chat.completions", "m", "req-2", "acme", {}, time.time()), record)
        await hub.flush()
    assert _failures() == before + 1
    failed = [e for e in logs if e["event"] == "audit.append_failed"]
    assert [e["request_id"] for e in failed] == ["req-2"]
    await hub.close()
