"""Client input never becomes a metric series, and reaches logs and audit only capped and
analysed (issue 12, item 4)."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, generate_latest
from structlog.testing import capture_logs

from tests.unit.conftest import CHAT, auth


def _flush(client: TestClient) -> None:
    """Requests are recorded (metrics, log line, audit) in batches: record them now."""
    assert client.portal is not None
    client.portal.call(client.app_state["resources"].observability.flush)


def _series_with(text: str) -> list[str]:
    return [line for line in generate_latest(REGISTRY).decode().splitlines() if text in line]


def test_unknown_model_names_do_not_become_label_values(client: TestClient) -> None:
    names = [f"no-such-model-{uuid.uuid4().hex}" for _ in range(50)]
    for name in names:
        response = client.post("/v1/chat/completions", json={**CHAT, "model": name}, headers=auth())
        assert response.status_code == 404
    _flush(client)
    for name in names:
        assert _series_with(name) == [], name
    assert _series_with('model="other"'), "refusals of unknown models are counted as other"


def test_a_long_model_name_with_personal_data_is_capped_and_masked_in_the_log(
    client: TestClient,
) -> None:
    name = "gpt-4o for max.mustermann@example.de " + "x" * 200  # the schema allows 256
    with capture_logs() as logs:
        response = client.post("/v1/chat/completions", json={**CHAT, "model": name}, headers=auth())
        assert response.status_code == 404
        _flush(client)
    lines = [entry for entry in logs if entry.get("event") == "request.completed"]
    assert lines, logs
    logged = str(lines[-1]["model"])
    assert "max.mustermann@example.de" not in logged
    assert len(logged) <= 128
