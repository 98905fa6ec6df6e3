from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.auth import hash_key
from gateway.settings import load_settings
from gateway.topology import Topology

EXAMPLE = Path(__file__).parents[2] / "config" / "example.yaml"


def test_the_readme_example_config_loads() -> None:
    settings = load_settings(EXAMPLE)
    topology = Topology.from_settings(settings)
    assert [p.name for p in topology.pools] == ["muc-b200", "muc-rtx", "magdeburg-rtx"]
    assert len(topology.engines) == 5
    assert topology.engines[0].url == "http://10.10.1.11:8000"
    stadt = settings.tenants[1].runtime()
    assert stadt.allowed_jurisdictions == frozenset({"DE"})  # the default
    assert stadt.allowed_models == frozenset({"llama-3.1-8b"})
    assert stadt.degraded_mode == "fail_closed"  # the default
    assert settings.tenants[0].runtime().allowed_models is None


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOVEREIGN_SERVER__PORT", "9123")
    monkeypatch.setenv("SOVEREIGN_SECURITY__KEY_PEPPER", "s3cret")
    settings = load_settings(EXAMPLE)
    assert settings.server.port == 9123
    assert settings.server.workers == 2  # still from the file
    assert settings.security.key_pepper is not None
    assert settings.security.key_pepper.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="configuration file not found"):
        load_settings(tmp_path / "nope.yaml")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


POOL = """
pools:
  - {name: p, jurisdiction: DE, site: s, engines: ["http://e:1"], models: [m]}
"""


@pytest.mark.parametrize(
    ("snippet", "complaint"),
    [
        ("tenants: [{id: t, api_keys: [{id: k, hash: sk-sov-cleartext}]}]", "clear-text keys"),
        ("tenants: [{id: t, api_keys: [{id: k, hash: 'sha256:00'}]}]", "sha256:<64 hex>"),
        (
            "tenants: [{id: t, allowed_jurisdictions: [Germany], api_keys: "
            f"[{{id: k, hash: '{hash_key('x')}'}}]}}]",
            "allowed_jurisdictions",
        ),
        (
            "tenants: [{id: t, api_keys: "
            f"[{{id: k, hash: '{hash_key('x')}'}}, {{id: k, hash: '{hash_key('y')}'}}]}}]",
            "duplicate api key id",
        ),
        ("tenants: [{id: t, degraded_mode: sometimes}]", "degraded_mode"),
        ("tenants: [{id: t, limits: {requests_per_minute: -1}}]", "requests_per_minute"),
        ("admin: {token_hash: hunter2}", "token_hash"),
        ("server: {port: 70000}", "port"),
        ("unknown_section: {}", "unknown_section"),
    ],
)
def test_bad_configuration_is_refused_with_the_reason(
    tmp_path: Path, snippet: str, complaint: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        load_settings(_write(tmp_path, POOL + snippet))
    assert complaint in str(caught.value)


def test_bad_pools_are_refused(tmp_path: Path) -> None:
    bad = [
        "pools: [{name: p, jurisdiction: de, site: s, engines: ['http://e:1'], models: [m]}]",
        "pools: [{name: p, jurisdiction: DE, site: s, engines: [], models: [m]}]",
        "pools: [{name: p, jurisdiction: DE, site: s, engines: ['not a url'], models: [m]}]",
        "pools: [{name: p, jurisdiction: DE, site: s, engines: ['http://e:1', 'http://e:1'],"
        " models: [m]}]",
    ]
    for text in bad:
        with pytest.raises(ValidationError):
            load_settings(_write(tmp_path, text))
