"""The chart's signed provenance (examples/provenance-watermark.yaml): the signing keys come
from an existing Secret, mounted read-only as one PEM file per key (``<kid>.pem``), and the
ConfigMap's ``provenance.keys`` names those files (the first signs, the others stay in the
JWKS): no key in the ConfigMap or the environment. Without ``provenance.enabled`` nothing of it
renders, and no tenant or policy may ask for signed answers (each process would sign with its
own ephemeral key)."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import helm_python as helm
import pytest

from gateway.provenance.keys import KeyRing, load_key
from gateway.provenance.settings import ProvenanceKey
from tests.chart.rendering import (
    PROVENANCE_PEMS,
    Manifest,
    example,
    gateway_config,
    gateway_container,
    render,
    schema_refusal,
    started_settings,
)


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return example("provenance-watermark.yaml")


@pytest.fixture(scope="module")
def docs(chart: helm.Chart, values: dict[str, Any]) -> list[Manifest]:
    return render(chart, values)


def env(docs: list[Manifest]) -> dict[str, Manifest]:
    return {e["name"]: e for e in gateway_container(docs)["env"]}


def key_volume(docs: list[Manifest]) -> tuple[Manifest, Manifest]:
    """The Secret volume of the signing keys and its mount in the gateway's container."""
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    (volume,) = [v for v in volumes if v["name"] == "provenance-keys"]
    mounts = gateway_container(docs)["volumeMounts"]
    (mount,) = [m for m in mounts if m["name"] == "provenance-keys"]
    return volume, mount


def mounted(docs: list[Manifest], secret: dict[str, str], root: Path) -> Path:
    """What the kubelet would put in the container: each item of the Secret as its file under
    ``root`` (standing for the mount path); returns ``root``."""
    volume, _ = key_volume(docs)
    for item in volume["secret"]["items"]:
        (root / item["path"]).write_text(secret[item["key"]])
    return root


SECRET = {
    "provenance-key-2026-12": PROVENANCE_PEMS[0],
    "provenance-key-2026-06": PROVENANCE_PEMS[1],
}


def test_the_gateway_signs_with_the_first_key_and_publishes_all(
    docs: list[Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = started_settings(docs, tmp_path, monkeypatch)
    provenance = settings.provenance
    assert [k.kid for k in provenance.keys] == ["2026-12", "2026-06"]
    _, mount = key_volume(docs)
    files = mounted(docs, SECRET, tmp_path)
    keys = []
    for key in provenance.keys:  # the configured path, inside the mount
        path = PurePosixPath(str(key.private_key_file))
        assert path.parent == PurePosixPath(mount["mountPath"])
        keys.append(load_key(ProvenanceKey(kid=key.kid, private_key_file=str(files / path.name))))
    ring = KeyRing(keys)
    assert ring.signing.kid == "2026-12"
    assert [k["kid"] for k in ring.jwks()["keys"]] == ["2026-12", "2026-06"]
    assert [k["alg"] for k in ring.jwks()["keys"]] == ["EdDSA", "ES256"]  # the Secret's keys
    assert (provenance.default, provenance.deployer) == ("off", "Stadtwerke Beispiel GmbH")
    assert (provenance.verify_per_minute, provenance.verify_burst) == (30, 10)
    (tenant,) = settings.tenants
    assert tenant.provenance == "on"


def test_the_keys_are_mounted_files_never_config_or_environment(docs: list[Manifest]) -> None:
    section = gateway_config(docs)["provenance"]
    assert section["keys"] == [
        {"kid": "2026-12", "private_key_file": "/etc/sovereign-provenance/2026-12.pem"},
        {"kid": "2026-06", "private_key_file": "/etc/sovereign-provenance/2026-06.pem"},
    ]
    volume, mount = key_volume(docs)
    assert volume["secret"] == {
        "secretName": "sovereign-gateway",
        "defaultMode": 0o400,
        "items": [
            {"key": "provenance-key-2026-12", "path": "2026-12.pem"},
            {"key": "provenance-key-2026-06", "path": "2026-06.pem"},
        ],
    }
    assert (mount["mountPath"], mount["readOnly"]) == ("/etc/sovereign-provenance", True)
    assert not [name for name in env(docs) if "PROVENANCE" in name]
    assert "PRIVATE KEY" not in json.dumps(docs)


def test_another_secret_and_entry_names(chart: helm.Chart, values: dict[str, Any]) -> None:
    values = json.loads(json.dumps(values))
    values["provenance"] |= {
        "existingSecret": "provenance-keys",
        "keys": [{"kid": "k2", "secretKey": "signing.pem"}],
        "default": True,  # a bare `on` in YAML 1.1
        "deployer": "",
    }
    docs = render(chart, values)
    volume, _ = key_volume(docs)
    assert volume["secret"]["secretName"] == "provenance-keys"
    assert volume["secret"]["items"] == [{"key": "signing.pem", "path": "k2.pem"}]
    section = gateway_config(docs)["provenance"]
    assert section["keys"] == [
        {"kid": "k2", "private_key_file": "/etc/sovereign-provenance/k2.pem"}
    ]
    assert (section["default"], section["deployer"]) == ("on", "Stadtwerke Beispiel GmbH")


def test_without_provenance_nothing_of_it_renders(chart: helm.Chart) -> None:
    docs = render(chart, example("two-sites.yaml"))
    assert "provenance" not in gateway_config(docs)
    assert "provenance-keys" not in json.dumps(docs)


REFUSED = [
    ({"tenants": [{"id": "t", "provenance": "on", "api_keys": []}]},
     "tenant t: provenance on needs provenance.enabled"),
    ({"policies": {"signed": {"require_provenance": True}}},
     "policy signed: require_provenance needs provenance.enabled"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), REFUSED)
def test_signing_without_keys_refuses_to_render(
    chart: helm.Chart, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError, match=message):
        render(chart, {"provenance": {"enabled": False}, **change})


BAD_VALUES = [
    ({"provenance": {"enabled": True}}, "keys"),
    ({"provenance": {"enabled": True, "keys": []}}, "keys"),
    ({"provenance": {"enabled": True, "keys": [{"kid": "a b"}]}}, "kid"),
    ({"provenance": {"enabled": True, "keys": [{"kid": "a", "privateKey": "PEM"}]}},
     "privateKey"),
    ({"provenance": {"enabled": True, "keys": [{"kid": "a"}], "default": "always"}}, "default"),
    ({"provenance": {"enabled": True, "keys": [{"kid": "a"}], "verify": {"burst": 0}}},
     "burst"),
]  # fmt: skip


@pytest.mark.parametrize(("values", "named"), BAD_VALUES)
def test_the_schema_rejects_bad_provenance_values(
    chart: helm.Chart, values: dict[str, Any], named: str
) -> None:
    assert named in schema_refusal(chart, values)
