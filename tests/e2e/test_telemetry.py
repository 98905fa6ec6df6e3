"""No personal data leaves through the side doors: a PII-laden workload (the evaluation
texts) through the gateway and the real vLLM engine, then every log line, exported span,
metric label, audit record and content log line (the tenant's policy logs content, masked) is
scanned for the values."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.audit.chain import VerifyReport, verify
from gateway.audit.file import FileAuditStore
from gateway.auth import hash_key
from tests.e2e.conftest import MODEL
from tests.processes import gateway_process
from tests.recording_proxy import recording_collector
from tests.servers import EngineUnderTest, free_port

pytestmark = pytest.mark.engine

KEY = "sk-e2e-telemetry-0001"
DATASET = Path(__file__).parents[1] / "pii_eval" / "dataset.jsonl"
TEXTS = 24  # evaluation texts sent; their labelled values must appear nowhere


def _workload() -> tuple[list[str], set[str]]:
    texts, values = [], set()
    for line in DATASET.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        found = {record["text"][e["start"] : e["end"]] for e in record["entities"]}
        found = {v for v in found if len(v) >= 6}  # short words ("HIV") may occur anyway
        if found:
            texts.append(record["text"])
            values |= found
        if len(texts) == TEXTS:
            return texts, values
    return texts, values


def test_no_value_appears_in_logs_spans_metrics_or_audit(
    engine: EngineUnderTest, tmp_path: Path
) -> None:
    texts, values = _workload()
    metrics_port = free_port()
    logs, audit = tmp_path / "logs" / "gateway.jsonl", tmp_path / "audit" / "audit.jsonl"
    content = tmp_path / "content" / "content.jsonl"
    # The contact-centre preset with content logging on: the content log is scanned too.
    preset = Path(__file__).parents[2] / "policies" / "presets" / "contact-centre.yaml"
    logged = tmp_path / "logged.yaml"
    logged.write_text(
        preset.read_text().replace("id: contact-centre", "id: logged-contact-centre")
        + "log_content: true\n"
    )
    with recording_collector() as collector:
        config = {
            "privacy": {"policy_files": [str(logged)]},
            "telemetry": {
                "logs": {"path": str(logs), "jurisdiction": "DE", "operator": "test"},
                "audit": {"path": str(audit), "jurisdiction": "DE", "operator": "test"},
                "content": {"path": str(content), "jurisdiction": "DE", "operator": "test"},
                "traces": {"endpoint": collector.url, "jurisdiction": "DE", "operator": "test"},
                "metrics": {"port": metrics_port, "jurisdiction": "DE", "operator": "test"},
            },
            "pools": [{"name": "local-de", "jurisdiction": "DE", "site": "de-local-1",
                       "engines": [engine.base_url], "models": [MODEL]}],
            "tenants": [{"id": "telemetry-e2e", "ai_act_marker": True,
                         "policy": "logged-contact-centre",
                         "api_keys": [{"id": "t1", "hash": hash_key(KEY)}]}],
        }  # fmt: skip
        with gateway_process(config, tmp_path, "telemetry") as gateway:
            client = gateway.client(KEY)
            for n, text in enumerate(texts):
                raw = client.chat.completions.with_raw_response.create(
                    model=MODEL,
                    messages=[{"role": "user", "content": text}],
                    max_tokens=8,
                    user=f"kunde-{n}@example.de",
                    stream=n % 2 == 1,
                )
                assert raw.headers["x-sovereign-ai-generated"] == "true"
                assert float(raw.headers["x-sovereign-overhead-ms"]) >= 0
                if n % 2:
                    for _ in raw.parse():
                        pass
            scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
            api_metrics = httpx.get(gateway.base_url + "/metrics", timeout=10)
    assert api_metrics.status_code == 404  # metrics only on their own port
    families = {f.name for f in text_string_to_metric_families(scrape)}
    assert {"sovereign_requests", "sovereign_time_to_first_token_seconds"} <= families
    spans = b"".join(collector.requests)
    assert b"gen_ai.usage.input_tokens" in spans
    log_text, audit_text = logs.read_text(encoding="utf-8"), audit.read_text(encoding="utf-8")
    content_text = content.read_text(encoding="utf-8")
    assert log_text.count('"request.completed"') == len(texts)
    assert audit_text.count('"request"') >= len(texts)
    assert len(content_text.splitlines()) == len(texts)  # masked prompts and answers
    leaks = {
        where: sorted(v for v in values if v in text)
        for where, text in (("logs", log_text), ("metrics", scrape), ("audit", audit_text),
                            ("content log", content_text))
    }  # fmt: skip
    leaks["spans"] = sorted(v for v in values if v.encode() in spans)  # OTLP protobuf bytes
    assert leaks == {"logs": [], "metrics": [], "audit": [], "content log": [], "spans": []}
    for n in range(len(texts)):  # nor the OpenAI `user` value: only its HMAC reference
        for text in (log_text, audit_text, scrape, content_text):
            assert f"kunde-{n}@example.de" not in text
    report = asyncio.run(_verify(FileAuditStore(audit)))
    assert report.problems == []
    assert report.entries >= len(texts)


async def _verify(store: FileAuditStore) -> VerifyReport:
    return verify(await store.entries(limit=10_000))
