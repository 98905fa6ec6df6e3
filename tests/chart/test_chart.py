"""The Helm chart (charts/sovereign-gateway), with Helm's own Go SDK (helm-python-sdk: lint,
schema validation, render) and every rendered manifest checked against the Kubernetes
schemas (kubernetes-validate, offline).

Value sets: the defaults (minimal), two sites with B200 and RTX Pro 6000 pools
(examples/two-sites.yaml) and an external Redis: one node (examples/external-redis.yaml), a
Redis Cluster over TLS with a password from a Secret (external-redis-cluster.yaml), a
Sentinel service (external-redis-sentinel.yaml), and an identity provider with the console
(oidc-console.yaml; its own checks in test_identity.py), signed provenance and the text
watermark (provenance-watermark.yaml; test_provenance.py, test_watermark.py). Beyond
validity, the rendered objects are checked for what the chart promises: selectors, GPU
resources and placement, NetworkPolicy rules, and a gateway configuration that the gateway
itself accepts and that matches the launch profiles of serving/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from serving.profiles import PROFILES, helm_profiles
from tests.chart.rendering import (
    CHART,
    KUBE,
    SECRET_VALUES,
    example,
    find,
    gateway_config,
    gateway_container,
    policy_spec,
    render,
    schema_refusal,
    started_settings,
)

ONE_POOL = {
    "engines": {
        "pools": [
            {"name": "muc-b200", "site": "de-muc-1", "jurisdiction": "DE",
             "profile": "b200/llama-3.1-8b", "replicas": 2},
        ]
    }
}  # fmt: skip


EXAMPLES = (
    "two-sites.yaml",
    "external-redis.yaml",
    "external-redis-cluster.yaml",
    "external-redis-sentinel.yaml",
    "oidc-console.yaml",
    "provenance-watermark.yaml",
)


# --- lint, schema, validity -------------------------------------------------------------


def test_lint_is_clean_with_every_example() -> None:
    for values in ({}, ONE_POOL, *(example(name) for name in EXAMPLES)):
        report = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBE}")
        assert report["errors"] == [], report
        assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


@pytest.mark.parametrize(
    "values",
    [{}, ONE_POOL, *(example(name) for name in EXAMPLES)],
    ids=["minimal", "one-pool", *(name.removesuffix(".yaml") for name in EXAMPLES)],
)
def test_every_rendered_manifest_is_valid_kubernetes(
    chart: helm.Chart, values: dict[str, Any]
) -> None:
    docs = render(chart, values)
    assert docs
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD of the Prometheus operator: checked by its own test below
        kubernetes_validate.validate(doc, KUBE, strict=True)


def test_the_profiles_file_is_generated_from_serving_profiles() -> None:
    assert (CHART / "files" / "profiles.yaml").read_text() == helm_profiles()


def test_the_dashboard_is_the_repositorys() -> None:
    repo = Path(__file__).parents[2] / "dashboards" / "sovereign-gateway.json"
    assert (CHART / "files" / "dashboard.json").read_text() == repo.read_text()


BAD_VALUES = [
    ({"allowedJurisdictions": ["Germany"]}, "allowedJurisdictions"),
    ({"gateway": {"port": 70000}}, "port"),
    ({"gateway": {"replicas": 0}}, "replicas"),
    ({"engines": {"pools": [{"name": "x", "site": "s", "jurisdiction": "DE",
                             "profile": "b200/llama-3.1-8b"}]}}, "replicas"),
    ({"engines": {"pools": [{"name": "Pool_1", "site": "s", "jurisdiction": "DE",
                             "profile": "b200/llama-3.1-8b", "replicas": 1}]}}, "name"),
    ({"redis": {"enabled": False, "port": 6379, "jurisdiction": "DE", "operator": "x",
                "external": {"url": "", "cidr": ""}}}, "external"),
    ({"redis": {"enabled": False, "port": 6379, "jurisdiction": "DE", "operator": "x",
                "external": {"mode": "cluster", "nodes": [], "cidr": "10.0.0.0/24"}}},
     "nodes"),
    ({"redis": {"enabled": False, "port": 6379, "jurisdiction": "DE", "operator": "x",
                "external": {"mode": "sentinel", "nodes": ["s1:26379"], "cidr": "10.0.0.0/24"}}},
     "service"),
    ({"redis": {"enabled": False, "port": 6379, "jurisdiction": "DE", "operator": "x",
                "external": {"mode": "sharded", "url": "redis://h", "cidr": "10.0.0.0/24"}}},
     "mode"),
    ({"redis": {"enabled": False, "port": 6379, "jurisdiction": "DE", "operator": "x",
                "external": {"mode": "cluster", "nodes": ["h1"], "cidr": "10.0.0.0/24"}}},
     "nodes"),
    ({"sinks": [{"name": "otel", "kind": "traces", "cidr": "10.0.0.1/32", "port": 4318,
                 "jurisdiction": "DE", "operator": "x"}]}, "url"),
    ({"sinks": [{"name": "otel", "cidr": "10.0.0.1/32", "port": 4318, "operator": "x"}]},
     "jurisdiction"),
    ({"networkPolicy": {"enabled": "yes"}}, "enabled"),
    ({"gateway": {"unknown": 1}}, "unknown"),
]  # fmt: skip


@pytest.mark.parametrize(("values", "named"), BAD_VALUES)
def test_the_schema_rejects_bad_values_naming_them(
    chart: helm.Chart, values: dict[str, Any], named: str
) -> None:
    assert named in schema_refusal(chart, values)


def test_a_pool_outside_the_allowed_jurisdictions_refuses_to_render(chart: helm.Chart) -> None:
    values = {"engines": {"pools": [{"name": "vie", "site": "at-vie-1", "jurisdiction": "AT",
                                     "profile": "b200/llama-3.1-8b", "replicas": 1}]}}  # fmt: skip
    with pytest.raises(helm.HelmRenderError) as refused:
        render(chart, values)
    assert "engine pool vie is in AT, outside allowedJurisdictions" in str(refused.value)
    sink = {"sinks": [{"name": "otel", "kind": "traces", "url": "http://otel.us:4318",
                       "cidr": "10.0.0.1/32", "port": 4318, "jurisdiction": "US",
                       "operator": "x"}]}  # fmt: skip
    with pytest.raises(helm.HelmRenderError, match="sink otel is in US"):
        render(chart, sink)


def test_an_unknown_profile_refuses_to_render(chart: helm.Chart) -> None:
    values = {"engines": {"pools": [{"name": "p", "site": "s", "jurisdiction": "DE",
                                     "profile": "b200/gpt-5", "replicas": 1}]}}  # fmt: skip
    with pytest.raises(helm.HelmRenderError, match="unknown profile b200/gpt-5"):
        render(chart, values)


# --- what the rendered objects say ------------------------------------------------------


def test_minimal_gateway_objects(chart: helm.Chart) -> None:
    docs = render(chart)
    kinds = sorted({d["kind"] for d in docs})
    assert kinds == [
        "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "NetworkPolicy",
        "PodDisruptionBudget", "Service", "StatefulSet",
    ]  # fmt: skip
    (deployment,) = find(docs, "Deployment")
    pod = deployment["spec"]["template"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    (service,) = find(docs, "Service", "sg-sovereign-gateway")
    assert service["spec"]["selector"] == selector
    (pdb,) = find(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == selector
    (hpa,) = find(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert "replicas" not in deployment["spec"]  # the autoscaler owns it
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    (container,) = spec["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert set(secrets) == {
        "SOVEREIGN_ADMIN__TOKEN_HASH", "SOVEREIGN_SECURITY__KEY_PEPPER",
        "SOVEREIGN_SECURITY__PSEUDONYM_KEY", "SOVEREIGN_TELEMETRY__AUDIT__HMAC_KEY",
        "SOVEREIGN_METERING__LEDGER_DSN",
    }  # fmt: skip
    assert {s["name"] for s in secrets.values()} == {"sovereign-gateway"}
    assert not find(docs, "Secret")  # referenced, never written


@pytest.mark.parametrize(
    "values",
    [{}, ONE_POOL, *(example(name) for name in EXAMPLES)],
    ids=["minimal", "one-pool", *(name.removesuffix(".yaml") for name in EXAMPLES)],
)
def test_the_gateway_starts_with_its_rendered_configuration(
    chart: helm.Chart,
    values: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = started_settings(render(chart, values), tmp_path, monkeypatch)
    assert settings.store.redis_url is not None
    assert settings.security.pseudonym_key is not None
    audit = settings.telemetry.audit
    assert audit is not None
    assert audit.jurisdiction == "DE"
    assert audit.hmac_key is not None


def test_two_sites_send_audit_to_postgres_and_traces_to_the_collector(
    chart: helm.Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = started_settings(render(chart, example("two-sites.yaml")), tmp_path, monkeypatch)
    audit = settings.telemetry.audit
    assert audit is not None
    assert audit.dsn is not None
    assert audit.operator == "Stadtwerke Beispiel GmbH"
    assert settings.telemetry.traces is not None
    assert str(settings.telemetry.traces.endpoint).startswith("http://10.20.8.5:4318")


def test_every_release_sends_usage_to_its_ledger_in_the_jurisdiction(
    chart: helm.Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(chart, example("two-sites.yaml"))
    settings = started_settings(docs, tmp_path, monkeypatch)
    metering = settings.metering
    assert metering.ledger_dsn is not None
    assert metering.ledger_dsn.get_secret_value() == "postgresql://ledger@10.10.4.20/ledger"
    assert (metering.ledger_jurisdiction, metering.ledger_operator) == (
        "DE",
        "Stadtwerke Beispiel GmbH",
    )
    assert metering.ledger_schema == "sovereign_ledger"
    assert metering.billing_retention_days == 3650
    # The DSN comes from the Secret, never the ConfigMap.
    assert "ledger_dsn" not in gateway_config(docs)["metering"]
    with pytest.raises(helm.HelmRenderError, match=r"ledger\.cidr is required"):
        chart.render({"ledger": {"cidr": ""}}, name="sg", namespace="llm")
    with pytest.raises(helm.HelmRenderError, match="ledger's database is in US"):
        render(chart, {"ledger": {"jurisdiction": "US", "operator": "x"}})


def test_two_sites_place_each_pool_on_its_site_and_gpu_class(chart: helm.Chart) -> None:
    values = example("two-sites.yaml")
    docs = render(chart, values)
    config = gateway_config(docs)
    by_pool = {p["name"]: p for p in config["pools"]}
    for pool in values["engines"]["pools"]:
        profile = PROFILES[pool["profile"]]
        name = f"sg-sovereign-gateway-engine-{pool['name']}"
        (sts,) = find(docs, "StatefulSet", name)
        spec = sts["spec"]
        pod = spec["template"]
        assert spec["replicas"] == pool["replicas"]
        assert spec["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        labels = pod["metadata"]["labels"]
        assert labels["sovereign-gateway.io/site"] == pool["site"]
        assert labels["sovereign-gateway.io/jurisdiction"] == "DE"
        assert labels["sovereign-gateway.io/gpu"] == profile.gpu.name
        node = pod["spec"]["nodeSelector"]
        assert node["topology.kubernetes.io/zone"] == pool["site"]
        gpu_product = values.get("gpuClasses", {}).get(profile.gpu.name) or {
            "b200": {"nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-B200"}},
            "rtx-pro-6000": {"nodeSelector": {
                "nvidia.com/gpu.product": "NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition"}},
        }[profile.gpu.name]  # fmt: skip
        assert gpu_product["nodeSelector"].items() <= node.items()
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "spec"
        ]["tolerations"]
        (vllm,) = pod["spec"]["containers"]
        gpus = vllm["resources"]["limits"]["nvidia.com/gpu"]
        assert gpus == profile.tensor_parallel == vllm["resources"]["requests"]["nvidia.com/gpu"]
        # The engine runs exactly the profile's flags, on the weights from the volume.
        assert vllm["command"] == ["vllm", "serve"]
        assert vllm["args"] == profile.vllm_args(f"/models/{profile.model.name}")[2:]
        assert {"name": "HF_HUB_OFFLINE", "value": "1"} in vllm["env"]
        # The gateway knows every engine pod by its own address, and the pool's facts.
        gateway_pool = by_pool[pool["name"]]
        assert gateway_pool["engines"] == [
            f"http://{name}-{i}.{name}.llm.svc.cluster.local:8000" for i in range(pool["replicas"])
        ]
        assert gateway_pool["site"] == pool["site"]
        assert gateway_pool["gpu"] == profile.gpu.name
        assert gateway_pool["profile"] == pool["profile"]
        assert gateway_pool["models"] == [profile.model.name]
        (service,) = find(docs, "Service", name)
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert by_pool["md-rtx"]["data_classes"] == ["special-category"]


def test_engines_accept_only_the_gateway_and_send_nothing(chart: helm.Chart) -> None:
    docs = render(chart, example("two-sites.yaml"))
    (deployment,) = find(docs, "Deployment")
    gateway_labels = deployment["spec"]["selector"]["matchLabels"]
    engines = policy_spec(docs, "engines")
    assert engines["policyTypes"] == ["Ingress", "Egress"]
    assert engines["egress"] == []
    (rule,) = engines["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": gateway_labels}}]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    for sts in find(docs, "StatefulSet"):
        if "engine" in sts["metadata"]["name"]:
            pod_labels = sts["spec"]["template"]["metadata"]["labels"]
            assert engines["podSelector"]["matchLabels"].items() <= pod_labels.items()
    redis = policy_spec(docs, "redis")
    assert redis["egress"] == []
    assert redis["ingress"][0]["from"] == [{"podSelector": {"matchLabels": gateway_labels}}]


def test_the_gateway_sends_only_to_its_engines_stores_sinks_and_dns(chart: helm.Chart) -> None:
    docs = render(chart, example("two-sites.yaml"))
    gateway = policy_spec(docs, "gateway")
    targets = []
    for rule in gateway["egress"]:
        (peer,) = rule["to"]
        ports = sorted(p["port"] for p in rule["ports"])
        if "ipBlock" in peer:
            targets.append((peer["ipBlock"]["cidr"], ports))
        elif "namespaceSelector" in peer:
            targets.append(("dns", ports))
        else:
            targets.append((peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
                            ports))  # fmt: skip
    assert sorted(targets, key=str) == sorted(
        [("dns", [53, 53]), ("engine", [8000]), ("redis", [6379]),
         ("10.10.4.20/32", [5432]), ("10.10.4.20/32", [5432]), ("10.20.8.5/32", [4318])],
        key=str,
    )  # fmt: skip
    metrics = [r for r in gateway["ingress"] if r["ports"][0]["port"] == 9464]
    assert metrics[0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    api = [r for r in gateway["ingress"] if r["ports"][0]["port"] == 8080]
    assert api[0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]


def test_an_external_redis_replaces_the_statefulset(chart: helm.Chart) -> None:
    docs = render(chart, example("external-redis.yaml"))
    assert not [s for s in find(docs, "StatefulSet") if s["metadata"]["name"].endswith("redis")]
    assert not find(docs, "NetworkPolicy", "sg-sovereign-gateway-redis")
    config = gateway_config(docs)
    assert config["store"]["redis_url"] == "redis://redis.intern.example.de:6379/0"
    assert config["store"]["operator"] == "Rechenzentrum Nord GmbH"
    egress = policy_spec(docs, "gateway")["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.10.2.7/32"}}],
            "ports": [{"port": 6379, "protocol": "TCP"}]} in egress  # fmt: skip


def test_an_external_cluster_over_tls_with_a_password_from_a_secret(
    chart: helm.Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(chart, example("external-redis-cluster.yaml"))
    assert not [s for s in find(docs, "StatefulSet") if s["metadata"]["name"].endswith("redis")]
    nodes = "10.10.2.11:6379,10.10.2.12:6379,10.10.2.13:6379"
    query = "ssl_ca_certs=/etc/sovereign-redis-tls/ca.crt"
    # No password in the ConfigMap: the Deployment sets the URL with it, from the Secret.
    assert gateway_config(docs)["store"]["redis_url"] == f"rediss+cluster://{nodes}?{query}"
    container = gateway_container(docs)
    env = {e["name"]: e for e in container["env"]}
    assert env["SG_REDIS_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "redis-credentials", "key": "password"}
    }
    url = env["SOVEREIGN_STORE__REDIS_URL"]["value"]
    assert url == f"rediss+cluster://gateway:$(SG_REDIS_PASSWORD)@{nodes}?{query}"
    assert {"name": "redis-tls", "mountPath": "/etc/sovereign-redis-tls", "readOnly": True} in (
        container["volumeMounts"]
    )
    (deployment,) = find(docs, "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["redis-tls"]["secret"] == {
        "secretName": "redis-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]
    }  # fmt: skip
    store = started_settings(docs, tmp_path, monkeypatch).store.redis
    assert store is not None
    assert store.kind == "cluster"
    assert store.tls
    assert (store.username, store.password) == ("gateway", SECRET_VALUES["SG_REDIS_PASSWORD"])
    assert store.ca_certs == "/etc/sovereign-redis-tls/ca.crt"
    assert len(store.hosts) == 3


def test_an_external_sentinel_service(
    chart: helm.Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(chart, example("external-redis-sentinel.yaml"))
    sentinels = "10.10.3.21:26379,10.10.3.22:26379,10.10.3.23:26379"
    assert gateway_config(docs)["store"]["redis_url"] == f"redis+sentinel://{sentinels}/sg-main/2"
    env = {e["name"]: e for e in gateway_container(docs)["env"]}
    assert env["SG_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "redis-password"
    store = started_settings(docs, tmp_path, monkeypatch).store.redis
    assert store is not None
    assert store.kind == "sentinel"
    assert (store.service, store.db, store.tls) == ("sg-main", 2, False)
    assert store.password == SECRET_VALUES["SG_REDIS_PASSWORD"]
    # The gateway reaches the sentinels (26379) and the data nodes (redis.port).
    egress = policy_spec(docs, "gateway")["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.10.3.0/24"}}],
            "ports": [{"port": 6379, "protocol": "TCP"},
                      {"port": 26379, "protocol": "TCP"}]} in egress  # fmt: skip


def test_a_single_external_redis_gets_its_password_and_ca_too(
    chart: helm.Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = example("external-redis.yaml")
    values["redis"]["external"] |= {
        "url": "rediss://redis.intern.example.de:6380/1",
        "passwordSecret": {"name": "redis-credentials"},
        "tls": {"enabled": True, "caSecret": {"name": "redis-ca"}},
    }
    docs = render(chart, values)
    env = {e["name"]: e for e in gateway_container(docs)["env"]}
    assert env["SOVEREIGN_STORE__REDIS_URL"]["value"] == (
        "rediss://:$(SG_REDIS_PASSWORD)@redis.intern.example.de:6380/1"
        "?ssl_ca_certs=/etc/sovereign-redis-tls/ca.crt"
    )
    store = started_settings(docs, tmp_path, monkeypatch).store.redis
    assert store is not None
    assert store.kind == "single"
    assert store.db == 1
    assert store.password == SECRET_VALUES["SG_REDIS_PASSWORD"]


def test_monitoring_objects(chart: helm.Chart) -> None:
    docs = render(chart, example("two-sites.yaml"))
    (monitor,) = find(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics",
                                             "interval": "15s"}]  # fmt: skip
    (service,) = find(docs, "Service", "sg-sovereign-gateway")
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    assert "metrics" in {p["name"] for p in service["spec"]["ports"]}
    (dashboard,) = find(docs, "ConfigMap", "sg-sovereign-gateway-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = (CHART / "files" / "dashboard.json").read_text()
    assert dashboard["data"]["sovereign-gateway.json"].strip() == shipped.strip()
