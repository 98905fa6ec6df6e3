"""Request metrics observed from usage records, scraped and parsed; the /metrics server."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.core.usage import UsageRecord
from gateway.telemetry.metrics_server import MetricsServer, serve_metrics
from gateway.telemetry.request_metrics import observe, status_class
from tests.records import usage_record

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by name and label set."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape() -> Samples:
    return parse(generate_latest(REGISTRY).decode())


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def fresh(**fields: Any) -> UsageRecord:
    """A record whose tenant and model no other test uses (the registry is process-wide)."""
    suffix = uuid.uuid4().hex[:8]
    fields = {"model": f"model-{suffix}", **fields}
    return usage_record(f"tenant-{suffix}", f"req-{suffix}", **fields)


def test_a_streamed_request_is_counted_timed_and_its_tokens_added() -> None:
    record = fresh(stream=True, duration_ms=250.0, ttft_ms=42.0)
    observe(record, {record.model})
    observe(record.model_copy(update={"prompt_tokens": 5, "completion_tokens": 1}), {record.model})

    samples = scrape()
    tenant, model, endpoint = record.tenant, record.model, "chat.completions"
    requests = key(
        "sovereign_requests_total",
        tenant=tenant,
        endpoint=endpoint,
        model=model,
        status_class="2xx",
    )
    assert samples[requests] == 2
    assert samples[key("sovereign_tokens_total", tenant=tenant, model=model, kind="prompt")] == 25
    completion = key("sovereign_tokens_total", tenant=tenant, model=model, kind="completion")
    assert samples[completion] == 11

    duration = "sovereign_request_duration_seconds"
    assert samples[key(f"{duration}_count", endpoint=endpoint, model=model)] == 2
    assert samples[key(f"{duration}_sum", endpoint=endpoint, model=model)] == pytest.approx(0.5)
    assert samples[key(f"{duration}_bucket", endpoint=endpoint, model=model, le="0.1")] == 0
    assert samples[key(f"{duration}_bucket", endpoint=endpoint, model=model, le="0.25")] == 2
    ttft = "sovereign_time_to_first_token_seconds"
    assert samples[key(f"{ttft}_count", model=model)] == 2
    assert samples[key(f"{ttft}_bucket", model=model, le="0.025")] == 0
    assert samples[key(f"{ttft}_bucket", model=model, le="0.05")] == 2


def test_without_a_first_token_or_completion_nothing_is_made_up() -> None:
    record = fresh(endpoint="embeddings", ttft_ms=None, completion_tokens=0, prompt_tokens=7)
    observe(record, {record.model})

    samples = scrape()
    assert key("sovereign_time_to_first_token_seconds_count", model=record.model) not in samples
    kinds = {
        dict(labels)["kind"]: value
        for (name, labels), value in samples.items()
        if name == "sovereign_tokens_total" and ("model", record.model) in labels
    }
    assert kinds == {"prompt": 7}


@pytest.mark.parametrize(
    ("status", "http_status", "expected"),
    [
        ("ok", 200, "2xx"),
        ("failed", 200, "5xx"),  # a stream that broke after its 200
        ("failed", 400, "4xx"),  # the engine's own 4xx, passed through
        ("failed", 503, "5xx"),
        ("aborted", 200, "aborted"),  # the client left: neither success nor error
    ],
)
def test_status_classes(status: str, http_status: int, expected: str) -> None:
    record = fresh(status=status, http_status=http_status)
    assert status_class(record) == expected
    observe(record, {record.model})
    labels = {
        "tenant": record.tenant,
        "endpoint": record.endpoint,
        "model": record.model,
        "status_class": expected,
    }
    assert scrape()[key("sovereign_requests_total", **labels)] == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_the_metrics_server_serves_only_get_metrics_and_stops() -> None:
    record = fresh()
    observe(record, {record.model})
    async with MetricsServer("127.0.0.1", 0) as server:
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base, trust_env=False) as client:
            response = await client.get("/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain; version=")
            labels = {
                "tenant": record.tenant,
                "endpoint": record.endpoint,
                "model": record.model,
                "status_class": "2xx",
            }
            assert parse(response.text)[key("sovereign_requests_total", **labels)] == 1

            assert (await client.get("/")).status_code == 404
            assert (await client.post("/metrics")).status_code == 405

            wants_openmetrics = {"accept": "application/openmetrics-text; version=1.0.0"}
            openmetrics = await client.get("/metrics", headers=wants_openmetrics)
            assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
            assert openmetrics.text.endswith("# EOF\n")

    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(trust_env=False) as client:
            await client.get(f"{base}/metrics")


async def test_a_busy_port_fails_the_start() -> None:
    async with MetricsServer("127.0.0.1", 0) as server:
        with pytest.raises(OSError, match="in use"):
            await MetricsServer("127.0.0.1", server.port).start()


async def _until_listening(port: int) -> None:
    """Wait (yielding to the server task) until the port accepts connections."""
    for _ in range(500):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
        else:
            writer.close()
            await writer.wait_closed()
            return
    raise AssertionError(f"nothing listens on {port}")


async def test_serve_metrics_runs_until_cancelled_and_closes_its_port() -> None:
    port = free_port()
    task = asyncio.create_task(serve_metrics("127.0.0.1", port))
    await _until_listening(port)
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    families = {family.name for family in text_string_to_metric_families(response.text)}
    assert "sovereign_requests" in families

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
