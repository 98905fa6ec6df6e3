"""Rendering the chart the way the tests need it: a release "sg" in namespace "llm", its
manifests parsed, the gateway's ConfigMap and Deployment picked out, and the settings the
gateway pod would start with (the ConfigMap's file plus the env the Deployment sets from the
Secret, with made-up secret values)."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gateway.settings import Settings, load_settings
from gateway.telemetry.residency import check_residency

CHART = Path(__file__).parents[2] / "charts" / "sovereign-gateway"
KUBE = "1.33.0"
Manifest = dict[str, Any]


def example(name: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "examples" / name).read_text())
    return values


# Every release names its usage ledger's address (the chart refuses to render without it).
LEDGER = {"cidr": "10.0.9.5/32"}


def with_ledger(values: dict[str, Any] | None) -> dict[str, Any]:
    values = dict(values or {})
    values["ledger"] = {**LEDGER, **values.get("ledger", {})}
    return values


def render(chart: helm.Chart, values: dict[str, Any] | None = None) -> list[Manifest]:
    files = chart.render(with_ledger(values), name="sg", namespace="llm")
    docs: list[Manifest] = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def schema_refusal(chart: helm.Chart, values: dict[str, Any]) -> str:
    """The message with which the chart's values.schema.json refuses ``values`` (it must)."""
    with pytest.raises(helm.HelmValuesError) as refused:
        chart.validate_schema(values)
    return str(refused.value)


def find(docs: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]


def gateway_config(docs: list[Manifest]) -> dict[str, Any]:
    (config_map,) = find(docs, "ConfigMap", "sg-sovereign-gateway-config")
    config: dict[str, Any] = yaml.safe_load(config_map["data"]["gateway.yaml"])
    return config


def policy_spec(docs: list[Manifest], suffix: str) -> dict[str, Any]:
    (policy,) = find(docs, "NetworkPolicy", f"sg-sovereign-gateway-{suffix}")
    spec: dict[str, Any] = policy["spec"]
    return spec


def gateway_container(docs: list[Manifest]) -> Manifest:
    (deployment,) = find(docs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def _pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


# Signing keys as the Secret holds them for provenance.keys (mounted as <kid>.pem files).
PROVENANCE_PEMS = (
    _pem(ed25519.Ed25519PrivateKey.generate()),
    _pem(ec.generate_private_key(ec.SECP256R1())),
)
WATERMARK_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

# What the Secret would hand the gateway through the Deployment's env (made-up values).
SECRET_VALUES = {
    "SOVEREIGN_ADMIN__TOKEN_HASH": "sha256:" + "0" * 64,
    "SOVEREIGN_SECURITY__KEY_PEPPER": "pepper-for-the-chart-test",
    "SOVEREIGN_SECURITY__PSEUDONYM_KEY": base64.b64encode(b"k" * 32).decode(),
    "SOVEREIGN_TELEMETRY__AUDIT__HMAC_KEY": base64.b64encode(b"h" * 32).decode(),
    "SOVEREIGN_TELEMETRY__AUDIT__DSN": "postgresql://audit@10.10.4.20/audit",
    "SOVEREIGN_METERING__LEDGER_DSN": "postgresql://ledger@10.10.4.20/ledger",
    "SOVEREIGN_CONSOLE__CLIENT_SECRET": "console-client-secret-from-the-secret",
    "SG_REDIS_PASSWORD": "redis-password-from-the-secret",
    # Named admin tokens' hashes, by their position in admin.tokens.
    "SG_ADMIN_TOKEN_HASH_0": "sha256:" + "1" * 64,
    "SG_ADMIN_TOKEN_HASH_1": "sha256:" + "2" * 64,
    "SOVEREIGN_WATERMARK__KEY": WATERMARK_KEY,
}


def started_settings(
    docs: list[Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The settings the gateway pod would start with: the ConfigMap's file, plus the env the
    Deployment sets from the Secret; then the start-up residency check."""
    env: dict[str, str] = {}
    for entry in gateway_container(docs)["env"]:
        if "secretKeyRef" in entry.get("valueFrom", {}):
            env[entry["name"]] = SECRET_VALUES[entry["name"]]
        elif "value" in entry:  # $(NAME) of an earlier variable expanded, as Kubernetes does
            env[entry["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), entry["value"]
            )
        if entry["name"] in env:
            monkeypatch.setenv(entry["name"], env[entry["name"]])
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(gateway_config(docs)))
    settings = load_settings(path)  # the gateway's own validation
    check_residency(settings)
    return settings
