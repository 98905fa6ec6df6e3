"""The Grafana dashboard in the repo queries only metrics the gateway actually exports."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

DASHBOARD = Path(__file__).parents[3] / "dashboards" / "sovereign-gateway.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
METRIC_MODULES = (
    "gateway.metrics",
    "gateway.routing.monitor",
    "gateway.routing.breaker",
    "gateway.routing.budget",
    "gateway.routing.admission",
    "gateway.telemetry.request_metrics",
)
# What the operator must be able to see (the list), each in at least one panel.
REQUIRED = {
    "sovereign_requests_total",
    "sovereign_request_duration_seconds_bucket",
    "sovereign_time_to_first_token_seconds_bucket",
    "sovereign_tokens_total",
    "sovereign_policy_actions_total",
    "sovereign_quota_refused_total",
    "sovereign_quota_degraded_total",
    "sovereign_policy_degraded_total",
    "sovereign_engine_up",
    "sovereign_engine_load",
    "sovereign_circuit_state",
    "sovereign_retries_total",
    "sovereign_failovers_total",
    "sovereign_admission_queue",
}
# Every gateway metric is prefixed, so this finds each one a query names.
METRIC_NAME = re.compile(r"\bsovereign_[a-z0-9_]+\b")
GRID_WIDTH = 24


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that show data (rows only group them)."""
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def expressions(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in panels(dashboard) for t in p["targets"]]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


def exported_names() -> set[str]:
    """The sample names the default registry exposes once the gateway's metrics are imported."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    suffixes = {
        "counter": ("_total",),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("", "_sum", "_count"),
        "info": ("_info",),
    }
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        for suffix in suffixes.get(family.type, ("",))
    }


def test_the_dashboard_is_a_current_grafana_dashboard_on_a_chosen_prometheus(
    dashboard: dict[str, Any],
) -> None:
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] == "sovereign-gateway"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE


def test_every_panel_queries_prometheus_with_promql(dashboard: dict[str, Any]) -> None:
    shown = panels(dashboard)
    assert len(shown) >= 10
    for panel in shown:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert METRIC_NAME.search(target["expr"]), (panel["title"], target["expr"])
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_every_metric_queried_exists_in_the_registry(dashboard: dict[str, Any]) -> None:
    exported = exported_names()
    used = {name for expr in expressions(dashboard) for name in METRIC_NAME.findall(expr)}
    assert used - exported == set()
    assert REQUIRED - used == set()


def test_panels_have_unique_ids_and_do_not_overlap(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= GRID_WIDTH, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, panel["title"]
        taken |= cells
