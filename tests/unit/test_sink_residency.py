"""Start-up is refused when any sink, store, exporter or engine lies outside the allowed
jurisdictions, or does not say where it is: a clear message, a non-zero exit, nothing sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.app import create_app
from gateway.cli import main
from gateway.settings import Settings
from gateway.telemetry.residency import SinkOutsideJurisdiction, residency_problems

POOL = {"name": "muc", "jurisdiction": "DE", "site": "de-muc-1", "engines": ["http://e:1"],
        "models": ["m"]}  # fmt: skip


def _settings(**telemetry: Any) -> Settings:
    return Settings(pools=[POOL], telemetry=telemetry)


def test_everything_in_germany_is_fine() -> None:
    settings = _settings(
        logs={"path": "/var/log/sg.jsonl", "jurisdiction": "DE", "operator": "Stadtwerke IT"},
        audit={"dsn": "postgresql://db/audit", "jurisdiction": "DE", "operator": "Stadtwerke IT"},
        traces={"endpoint": "http://otel.intern:4318", "jurisdiction": "DE", "operator": "IONOS"},
        metrics={"port": 9464, "jurisdiction": "DE", "operator": "Stadtwerke IT"},
    )
    assert residency_problems(settings) == []


@pytest.mark.parametrize(
    ("telemetry", "named"),
    [
        ({"traces": {"endpoint": "https://otlp.example.com", "jurisdiction": "US",
                     "operator": "SaaS Inc."}}, "trace exporter (operator SaaS Inc.) is in US"),
        ({"logs": {"jurisdiction": "IE", "operator": "Cloud Logs"}}, "log sink"),
        ({"audit": {"dsn": "postgresql://x/y", "jurisdiction": "NL", "operator": "DBaaS"}},
         "audit sink"),
        ({"metrics": {"port": 9464, "jurisdiction": "FR", "operator": "Ops"}}, "metrics endpoint"),
        ({"host_jurisdiction": "AT"}, "this gateway host"),
    ],
)  # fmt: skip
def test_a_sink_outside_the_jurisdiction_is_named(telemetry: dict[str, Any], named: str) -> None:
    problems = residency_problems(_settings(**telemetry))
    assert len(problems) == 1
    assert named in problems[0]
    assert "outside the allowed jurisdictions (DE)" in problems[0]


def test_engines_and_the_shared_store_must_be_inside_and_declared() -> None:
    foreign_pool = {**POOL, "name": "vie", "jurisdiction": "AT", "engines": ["http://f:1"]}
    settings = Settings(pools=[POOL, foreign_pool], store={"redis_url": "redis://r:6379/0"})
    problems = residency_problems(settings)
    assert any("engine pool 'vie' is in AT" in p for p in problems)
    assert any("shared store" in p and "must be declared" in p for p in problems)
    allowed = Settings(
        pools=[POOL, foreign_pool],
        store={"redis_url": "redis://r:6379/0", "jurisdiction": "DE", "operator": "ops"},
        telemetry={"allowed_jurisdictions": ["DE", "AT"]},
    )
    assert residency_problems(allowed) == []


def test_the_app_refuses_to_build_and_the_cli_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    telemetry = {"traces": {"endpoint": "https://otlp.example.com", "jurisdiction": "US",
                            "operator": "SaaS Inc."}}  # fmt: skip
    with pytest.raises(SinkOutsideJurisdiction, match="refusing to start"):
        create_app(_settings(**telemetry))
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"pools": [POOL], "telemetry": telemetry}))
    assert main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "refusing to start" in err
    assert "trace exporter (operator SaaS Inc.) is in US" in err
