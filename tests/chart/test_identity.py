"""The chart's identity providers, console and named admin tokens (examples/oidc-console.yaml).

An issuer is the gateway's own `identity.issuers[]` entry plus the chart's `cidr` and `port`,
which open the gateway's egress to the identity provider and are not passed on. The console's
client secret and the admin tokens' hashes come from the Secret through the environment,
never the ConfigMap. The chart refuses to render an identity provider outside the allowed
jurisdictions, one without its address, and a console that cannot sign anyone in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from gateway.console.settings import ConsoleSettings
from gateway.identity.roles import Role
from gateway.identity.settings import ClaimNames, IssuerSettings
from gateway.settings import AdminToken
from tests.chart.rendering import (
    CHART,
    SECRET_VALUES,
    Manifest,
    example,
    find,
    gateway_config,
    gateway_container,
    policy_spec,
    render,
    schema_refusal,
    started_settings,
)

ISSUER = "https://id.example.de/realms/sovereign"


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return example("oidc-console.yaml")


@pytest.fixture(scope="module")
def docs(chart: helm.Chart, values: dict[str, Any]) -> list[Manifest]:
    return render(chart, values)


def with_console(values: dict[str, Any], **console: Any) -> dict[str, Any]:
    return {**values, "console": {**values["console"], **console}}


def with_issuer(values: dict[str, Any], **issuer: Any) -> dict[str, Any]:
    (first,) = values["identity"]["issuers"]
    return {**values, "identity": {"issuers": [{**first, **issuer}]}}


def secret_env(docs: list[Manifest]) -> dict[str, dict[str, str]]:
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in gateway_container(docs)["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def test_the_gateway_starts_with_the_issuer_the_console_and_the_tokens(
    docs: list[Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = started_settings(docs, tmp_path, monkeypatch)
    (issuer,) = settings.identity.issuers
    assert (issuer.name, issuer.issuer) == ("keycloak", ISSUER)  # exactly, no trailing slash
    assert (issuer.jurisdiction, issuer.operator) == ("DE", "Stadtwerke Beispiel GmbH")
    assert issuer.claims.roles == "realm_access.roles"
    assert issuer.claims.tenant == "sg_tenant"
    assert set(issuer.role_map.values()) == set(Role)  # all five roles are reachable
    assert issuer.user_limits is not None
    assert issuer.user_limits.requests_per_minute == 60
    console = settings.console
    assert console.enabled
    assert (console.issuer, console.client_id) == ("keycloak", "sovereign-console")
    assert str(console.public_url).rstrip("/") == "https://llm.example.de"
    assert console.cookie_secure is True
    assert console.default_language == "de"
    assert console.client_secret is not None
    assert (
        console.client_secret.get_secret_value()
        == SECRET_VALUES["SOVEREIGN_CONSOLE__CLIENT_SECRET"]
    )
    (tenant,) = settings.tenants
    assert tenant.jwt_issuers == ["keycloak"]
    tokens = {t.id: t for t in settings.admin.tokens}
    assert tokens["audit-export"].roles == [Role.AUDITOR]
    assert tokens["audit-export"].tenant is None
    assert tokens["audit-export"].hash == SECRET_VALUES["SG_ADMIN_TOKEN_HASH_0"]
    assert tokens["stadtwerke-keys"].roles == [Role.TENANT_ADMIN]
    assert tokens["stadtwerke-keys"].tenant == "stadtwerke"
    assert tokens["stadtwerke-keys"].hash == SECRET_VALUES["SG_ADMIN_TOKEN_HASH_1"]


def test_secrets_and_the_chart_only_keys_stay_out_of_the_config_map(
    docs: list[Manifest],
) -> None:
    config = gateway_config(docs)
    (issuer,) = config["identity"]["issuers"]
    assert "cidr" not in issuer
    assert "port" not in issuer
    assert "client_secret" not in config["console"]
    assert config["console"]["cookie_secure"] is True
    assert "admin" not in config
    (config_map,) = find(docs, "ConfigMap", "sg-sovereign-gateway-config")
    assert "sha256:" not in json.dumps(config_map)
    env = secret_env(docs)
    assert env["SOVEREIGN_CONSOLE__CLIENT_SECRET"] == {
        "name": "sovereign-gateway", "key": "console-client-secret"
    }  # fmt: skip
    assert env["SG_ADMIN_TOKEN_HASH_0"]["key"] == "admin-token-audit-export"
    assert env["SG_ADMIN_TOKEN_HASH_1"]["key"] == "admin-token-stadtwerke-keys"


def test_the_gateway_may_reach_the_identity_provider(docs: list[Manifest]) -> None:
    egress = policy_spec(docs, "gateway")["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.30.0.20/32"}}],
            "ports": [{"port": 443, "protocol": "TCP"}]} in egress  # fmt: skip


def test_a_public_client_gets_no_secret_and_ports_default_to_443(
    chart: helm.Chart, values: dict[str, Any]
) -> None:
    values = with_console(values, clientSecret=False)
    values = with_issuer(values, port=8443, cidr="10.30.0.0/24")
    docs = render(chart, values)
    assert "SOVEREIGN_CONSOLE__CLIENT_SECRET" not in secret_env(docs)
    egress = policy_spec(docs, "gateway")["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.30.0.0/24"}}],
            "ports": [{"port": 8443, "protocol": "TCP"}]} in egress  # fmt: skip
    # A disabled console sends nothing, secret or not; the issuer alone still opens egress.
    values = {**with_console(values, enabled=False, clientSecret=True)}
    values["identity"]["issuers"][0].pop("port")
    values["secrets"] = {"keys": {"consoleClientSecret": "oidc-secret"}}
    docs = render(chart, values)
    assert "SOVEREIGN_CONSOLE__CLIENT_SECRET" not in secret_env(docs)
    assert "console" not in gateway_config(docs)
    egress = policy_spec(docs, "gateway")["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.30.0.0/24"}}],
            "ports": [{"port": 443, "protocol": "TCP"}]} in egress  # fmt: skip
    docs = render(chart, with_console(values, enabled=True))
    assert secret_env(docs)["SOVEREIGN_CONSOLE__CLIENT_SECRET"]["key"] == "oidc-secret"


REFUSED = [
    ({"identity": {"issuers": [{"jurisdiction": "US"}]}},
     "identity provider keycloak is in US, outside allowedJurisdictions"),
    ({"identity": {"issuers": [{"cidr": ""}]}},
     r"identity.issuers\[keycloak\].cidr is required"),
    ({"console": {"issuer": "entra"}}, 'console.issuer "entra" is not one of identity.issuers'),
    ({"console": {"publicUrl": ""}}, "console.publicUrl is required when console.enabled"),
    ({"tenants": [{"id": "acme", "jwt_issuers": ["entra"]}]},
     "tenant acme: jwt_issuers names entra"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), REFUSED)
def test_the_chart_refuses_to_render(
    chart: helm.Chart, values: dict[str, Any], change: dict[str, Any], message: str
) -> None:
    values = json.loads(json.dumps(values))  # a deep copy
    if "identity" in change:
        values = with_issuer(values, **change["identity"]["issuers"][0])
    elif "console" in change:
        values = with_console(values, **change["console"])
    else:
        values |= change
    with pytest.raises(helm.HelmRenderError, match=message):
        render(chart, values)


BAD_VALUES = [
    ({"issuer": "id.example.de/realms/x"}, "issuer"),
    ({"issuer": "https://id.example.de/realms/x?tenant=1"}, "issuer"),
    ({"jurisdiction": "Germany"}, "jurisdiction"),
    ({"operator": ""}, "operator"),
    ({"cidr": "10.30.0.20"}, "cidr"),
    ({"port": 0}, "port"),
    ({"name": "key cloak"}, "name"),
    ({"roleMap": {"admins": "platform_admin"}}, "roleMap"),
    ({"role_map": {"admins": "superuser"}}, "role_map"),
    ({"algorithms": ["HS256"]}, "algorithms"),
    ({"claims": {"role": "groups"}}, "claims"),
]  # fmt: skip


@pytest.mark.parametrize(("issuer", "named"), BAD_VALUES)
def test_the_schema_rejects_bad_issuers(
    chart: helm.Chart, values: dict[str, Any], issuer: dict[str, Any], named: str
) -> None:
    assert named in schema_refusal(chart, with_issuer(values, **issuer))


BAD_OTHERS = [
    ({"console": {"enabled": True, "publicUrl": "http://llm.example.de"}}, "publicUrl"),
    ({"console": {"enabled": True, "defaultLanguage": "fr"}}, "defaultLanguage"),
    ({"console": {"enabled": True, "client_id": "x"}}, "client_id"),
    ({"console": {"enabled": True, "clientSecret": "s3cret"}}, "clientSecret"),
    ({"admin": {"tokens": [{"id": "t", "roles": ["tenant_admin"]}]}}, "tenant"),
    ({"admin": {"tokens": [{"id": "t", "roles": ["auditor"], "tenant": "acme"}]}}, "tenant"),
    ({"admin": {"tokens": [{"id": "t", "roles": ["root"]}]}}, "roles"),
    ({"admin": {"tokens": [{"id": "ci:keys", "roles": ["operator"]}]}}, "id"),
    ({"admin": {"tokens": [{"id": "t", "roles": ["operator"], "hashKey": "a/b"}]}}, "hashKey"),
    ({"admin": {"tokens": [{"id": "t", "roles": ["auditor"], "hash": "sha256:x"}]}}, "hash"),
    ({"tenants": [{"id": "acme", "jwt_issuers": ["bad name"]}]}, "jwt_issuers"),
]  # fmt: skip


@pytest.mark.parametrize(("values", "named"), BAD_OTHERS)
def test_the_schema_rejects_bad_console_and_token_values(
    chart: helm.Chart, values: dict[str, Any], named: str
) -> None:
    assert named in schema_refusal(chart, values)


def test_the_schema_knows_the_gateways_fields(chart: helm.Chart) -> None:
    """An issuer entry is the gateway's own shape: a field the gateway adds must be added to
    the chart's schema (which refuses unknown keys), and the console's values map onto
    ConsoleSettings (its client secret through the environment)."""
    schema = chart.schema
    assert schema is not None
    issuer = schema["properties"]["identity"]["properties"]["issuers"]["items"]
    assert set(issuer["properties"]) == set(IssuerSettings.model_fields) | {"cidr", "port"}
    assert set(issuer["properties"]["claims"]["properties"]) == set(ClaimNames.model_fields)
    assert set(issuer["properties"]["role_map"]["additionalProperties"]["enum"]) == set(Role)
    token = schema["properties"]["admin"]["properties"]["tokens"]["items"]
    assert set(token["properties"]) == (set(AdminToken.model_fields) - {"hash"}) | {"hashKey"}
    console = schema["properties"]["console"]["properties"]
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["console"]
    assert set(defaults) == set(console)
    snake = {"".join(f"_{c.lower()}" if c.isupper() else c for c in key) for key in console}
    assert snake <= set(ConsoleSettings.model_fields)
