"""The shipped Collector configs are consistent: every pipeline uses defined components."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
CONFIGS = sorted(ROOT.glob("collector-config*.yaml"))


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def test_both_configs_exist() -> None:
    """The fan-out config and the load-balancing variant ship at the top level."""
    assert [p.name for p in CONFIGS] == [
        "collector-config.loadbalancing.yaml",
        "collector-config.yaml",
    ]


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in CONFIGS])
def test_pipelines_reference_defined_components(path: Path) -> None:
    """Each receiver, processor, exporter and extension a pipeline names is defined."""
    doc = _load(path)
    service = doc["service"]
    for extension in service.get("extensions", []):
        assert extension in doc["extensions"], extension
    assert service["pipelines"]
    for name, pipeline in service["pipelines"].items():
        assert name.startswith("traces"), name
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in doc.get(kind, {}), f"{name}: {kind} {component}"
        assert pipeline["receivers"] and pipeline["exporters"]
    for exporter in doc["exporters"].values():
        storage = (exporter.get("sending_queue") or {}).get("storage")
        if storage:
            assert storage in service["extensions"]


def test_fan_out_sends_to_the_documented_spansift_port() -> None:
    """The spansift exporter uses port 14318, a bearer token, a persistent queue and retries."""
    doc = _load(ROOT / "collector-config.yaml")
    spansift = doc["exporters"]["otlp_http/spansift"]
    assert spansift["endpoint"] == "http://127.0.0.1:14318"
    assert spansift["headers"]["authorization"] == "Bearer ${env:SPANSIFT_TOKEN}"
    assert spansift["sending_queue"]["enabled"] is True
    assert spansift["retry_on_failure"]["enabled"] is True
    receivers = {tuple(p["receivers"]) for p in doc["service"]["pipelines"].values()}
    assert receivers == {("otlp",)}, "both pipelines read the same receiver"
    ports = {doc["receivers"]["otlp"]["protocols"][p]["endpoint"] for p in ("grpc", "http")}
    assert ports == {"0.0.0.0:4317", "0.0.0.0:4318"}


def test_load_balancing_routes_by_service_to_spansift_grpc_port() -> None:
    """The scale-out variant keeps traces and sessions whole (by service) on port 14317."""
    doc = _load(ROOT / "collector-config.loadbalancing.yaml")
    exporter = doc["exporters"]["load_balancing/spansift"]
    assert exporter["routing_key"] == "service"
    assert exporter["resolver"]["dns"]["port"] == 14317
