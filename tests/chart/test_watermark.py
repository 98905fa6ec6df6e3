"""The chart's text watermark (examples/provenance-watermark.yaml): the engines of pools with
``watermark: on`` or ``client`` load the logits processor (shipped to the upstream vLLM image
in a ConfigMap: serving/'s own modules, through links in files/watermark/) with the key from
the Secret and the strength from the values; the gateway gets the same key and scheme for
detection, and the model's tokenizer from the engines' read-only claim. Without it nothing of
this renders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from gateway.provenance.settings import WatermarkSettings
from serving.local_engine import VLLM_VERSION, WATERMARK_PROCESSOR
from serving.watermark_scheme import WatermarkScheme
from tests.chart.rendering import (
    CHART,
    SECRET_VALUES,
    Manifest,
    example,
    find,
    gateway_config,
    gateway_container,
    render,
    schema_refusal,
    started_settings,
)

REPO = Path(__file__).parents[2]
CODE = "/opt/sovereign-watermark"
SECRET = {"name": "sovereign-watermark", "key": "watermark-key"}


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return example("provenance-watermark.yaml")


@pytest.fixture(scope="module")
def docs(chart: helm.Chart, values: dict[str, Any]) -> list[Manifest]:
    return render(chart, values)


def engine(docs: list[Manifest], pool: str) -> tuple[Manifest, Manifest]:
    """The pool's StatefulSet pod template and its vLLM container."""
    (statefulset,) = find(docs, "StatefulSet", f"sg-sovereign-gateway-engine-{pool}")
    pod: Manifest = statefulset["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    return pod, container


def engine_scheme(container: Manifest) -> WatermarkScheme | None:
    """The scheme the engine process reads (WatermarkScheme.from_env), the Secret's key put in."""
    env: dict[str, str] = {}
    for entry in container["env"]:
        if "secretKeyRef" in entry.get("valueFrom", {}):
            assert entry["valueFrom"]["secretKeyRef"] == SECRET
            env[entry["name"]] = SECRET_VALUES["SOVEREIGN_WATERMARK__KEY"]
        else:
            env[entry["name"]] = entry["value"]
    return WatermarkScheme.from_env(env)


def test_the_chart_ships_serving_modules_not_copies() -> None:
    """files/watermark/ holds links to serving/ (Helm reads no file outside the chart, and
    follows links when it loads or packages it), so the shipped code cannot drift."""
    for name in ("watermark_scheme.py", "watermark_processor.py"):
        shipped = CHART / "files" / "watermark" / name
        assert shipped.is_symlink()
        assert shipped.resolve() == (REPO / "serving" / name).resolve()


def test_marking_engines_load_the_processor_from_the_config_map(docs: list[Manifest]) -> None:
    (code,) = find(docs, "ConfigMap", "sg-sovereign-gateway-watermark")
    for name in ("watermark_scheme.py", "watermark_processor.py"):
        assert code["data"][name] == (REPO / "serving" / name).read_text()
    assert "__init__.py" in code["data"]  # a regular package `serving`, first on the path
    for pool in ("muc-b200", "md-rtx"):  # "on" and "client" both need the processor
        pod, container = engine(docs, pool)
        args = container["args"]
        index = args.index("--logits-processors")
        assert args[index + 1] == WATERMARK_PROCESSOR
        env = {e["name"]: e for e in container["env"]}
        assert env["SOVEREIGN_WATERMARK_KEY"]["valueFrom"]["secretKeyRef"] == SECRET
        assert env["PYTHONPATH"]["value"] == CODE
        mount = {m["name"]: m for m in container["volumeMounts"]}["watermark"]
        assert mount == {"name": "watermark", "mountPath": f"{CODE}/serving", "readOnly": True}
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes["watermark"]["configMap"]["name"] == "sg-sovereign-gateway-watermark"
        assert "checksum/watermark" in pod["metadata"]["annotations"]


def test_engines_and_gateway_agree_on_the_scheme(
    docs: list[Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = started_settings(docs, tmp_path, monkeypatch)
    assert settings.watermark is not None
    assert settings.watermark.key.get_secret_value() == SECRET_VALUES["SOVEREIGN_WATERMARK__KEY"]
    detector = settings.watermark.scheme()
    assert (detector.gamma, detector.delta) == (0.25, WatermarkScheme.delta)  # the code's default
    for pool in ("muc-b200", "md-rtx"):
        marker = engine_scheme(engine(docs, pool)[1])
        assert marker is not None
        assert (marker.key, marker.gamma, marker.delta, marker.context_width) == (
            detector.key, detector.gamma, detector.delta, detector.context_width,
        )  # fmt: skip
    modes = {p.name: p.watermark for p in settings.pools}
    assert modes == {"muc-b200": "on", "md-rtx": "client"}
    env = {e["name"]: e for e in gateway_container(docs)["env"]}
    assert env["SOVEREIGN_WATERMARK__KEY"]["valueFrom"]["secretKeyRef"] == SECRET


def test_the_gateway_reads_the_tokenizer_from_the_models_claim(docs: list[Manifest]) -> None:
    tokenizer = gateway_config(docs)["watermark"]["tokenizer"]
    assert tokenizer == "/models/llama-3.1-8b/tokenizer.json"
    container = gateway_container(docs)
    mount = {m["name"]: m for m in container["volumeMounts"]}["tokenizer"]
    assert mount == {"name": "tokenizer", "mountPath": "/models/llama-3.1-8b",
                     "subPath": "llama-3.1-8b", "readOnly": True}  # fmt: skip
    assert tokenizer.startswith(mount["mountPath"] + "/")
    (deployment,) = find(docs, "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tokenizer"]["persistentVolumeClaim"] == {
        "claimName": "model-weights", "readOnly": True
    }  # fmt: skip


def test_a_pool_with_the_watermark_off_gets_none_of_it(
    chart: helm.Chart, values: dict[str, Any]
) -> None:
    values = json.loads(json.dumps(values))
    values["engines"]["pools"][1]["watermark"] = False  # a bare `off` in YAML 1.1
    values["engines"]["pools"][0]["watermark"] = True  # a bare `on`
    docs = render(chart, values)
    modes = {p["name"]: p["watermark"] for p in gateway_config(docs)["pools"]}
    assert modes == {"muc-b200": "on", "md-rtx": "off"}
    pod, container = engine(docs, "md-rtx")
    assert "--logits-processors" not in container["args"]
    assert not [e for e in container["env"] if e["name"].startswith(("SOVEREIGN_", "PYTHON"))]
    assert "watermark" not in {v["name"] for v in pod["spec"]["volumes"]}
    assert "annotations" not in pod["metadata"]


@pytest.mark.parametrize("values", [{}, "two-sites.yaml"], ids=["minimal", "two-sites"])
def test_without_the_watermark_nothing_of_it_renders(
    chart: helm.Chart, values: dict[str, Any] | str
) -> None:
    docs = render(chart, example(values) if isinstance(values, str) else values)
    assert not find(docs, "ConfigMap", "sg-sovereign-gateway-watermark")
    assert "watermark" not in gateway_config(docs)
    assert {p["watermark"] for p in gateway_config(docs)["pools"]} <= {"off"}
    text = json.dumps([d for d in docs if d["kind"] in ("StatefulSet", "Deployment")])
    for needle in ("WATERMARK", "logits-processors", "PYTHONPATH", "tokenizer"):
        assert needle not in text


REFUSED = [
    ({"watermark": {"enabled": False}}, r"pools \[muc-b200 md-rtx\] mark answers"),
    ({"engines": {"models": {"mountPath": "/models", "existingClaim": ""}}},
     "engines.models.existingClaim is required when watermark.enabled"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), REFUSED)
def test_the_chart_refuses_to_render(
    chart: helm.Chart, values: dict[str, Any], change: dict[str, Any], message: str
) -> None:
    values = json.loads(json.dumps(values))
    for section, part in change.items():
        values[section] |= part
    with pytest.raises(helm.HelmRenderError, match=message):
        render(chart, values)


BAD_VALUES = [
    ({"watermark": {"enabled": True}}, "existingSecret"),
    ({"watermark": {"enabled": True, "existingSecret": "s", "gamma": 1.5}}, "gamma"),
    ({"watermark": {"enabled": True, "existingSecret": "s", "delta": -1}}, "delta"),
    ({"watermark": {"enabled": True, "existingSecret": "s", "key": "00ff"}}, "key"),
    ({"watermark": {"enabled": True, "existingSecret": "s", "secretKey": "a/b"}}, "secretKey"),
    ({"engines": {"pools": [{"name": "p", "site": "s", "jurisdiction": "DE",
                             "profile": "b200/llama-3.1-8b", "replicas": 1,
                             "watermark": "yes"}]}}, "watermark"),
]  # fmt: skip


@pytest.mark.parametrize(("values", "named"), BAD_VALUES)
def test_the_schema_rejects_bad_watermark_values(
    chart: helm.Chart, values: dict[str, Any], named: str
) -> None:
    assert named in schema_refusal(chart, values)


def test_the_values_defaults_are_the_codes() -> None:
    """values.yaml's scheme and detection defaults are those of serving/ and the gateway."""
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["watermark"]
    scheme = WatermarkScheme(key=b"k" * 16)
    assert (defaults["gamma"], defaults["delta"], defaults["contextWidth"]) == (
        scheme.gamma, scheme.delta, scheme.context_width,
    )  # fmt: skip
    fields = WatermarkSettings.model_fields
    assert defaults["thresholdZ"] == fields["threshold_z"].default
    assert defaults["minTokens"] == fields["min_tokens"].default
    assert (fields["gamma"].default, fields["delta"].default) == (scheme.gamma, scheme.delta)


def test_the_engine_image_is_the_vllm_the_suite_runs() -> None:
    """The processor is written against one vLLM's logits-processor API: the chart's engine
    image must be the version the real-engine tests run."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["engines"]["image"]["tag"] == f"v{VLLM_VERSION}"
