"""Every example configuration in the repository passes the gateway's start-up checks, with
the environment its comments ask for (secrets come from the environment, never the file)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.cli import check_replicas
from gateway.settings import load_settings
from gateway.telemetry.residency import check_residency

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_the_example_configuration_passes_the_start_up_checks(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # config/example.yaml: "required with Redis: SOVEREIGN_SECURITY__PSEUDONYM_KEY".
    monkeypatch.setenv("SOVEREIGN_SECURITY__PSEUDONYM_KEY", base64.b64encode(b"k" * 32).decode())
    # config/example.yaml: "required with Redis: ... SOVEREIGN_METERING__LEDGER_DSN".
    monkeypatch.setenv("SOVEREIGN_METERING__LEDGER_DSN", "postgresql://ledger@pg.intern/gateway")
    settings = load_settings(path)
    check_replicas(settings)  # serve's own checks (several workers need a shared store)
    check_residency(settings)
    create_app(settings)  # the lifespan's checks: keys, policies, residency of every sink
