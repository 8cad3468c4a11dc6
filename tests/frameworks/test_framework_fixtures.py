"""The early framework fixtures, recorded again now: real frameworks give the same results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, ROOT

FRAMEWORKS = FIXTURES / "frameworks"
sys.path.insert(0, str(ROOT / "bench"))
import quality  # noqa: E402


@pytest.mark.parametrize("framework", ["pydantic_ai", "openai_agents", "langgraph", "openai_v2"])
def test_live_run_matches_recorded_fixtures(framework: str, tmp_path: Path) -> None:
    """Running the framework now gives the same exception types as its committed traces."""
    needed = {
        "pydantic_ai": ("pydantic_ai",),
        "openai_agents": ("agents", "openinference.instrumentation"),
        "langgraph": ("langgraph", "openinference.instrumentation"),
        "openai_v2": ("openai", "opentelemetry.instrumentation.openai_v2"),
    }
    for module in needed[framework]:
        pytest.importorskip(module)
    # A subprocess keeps the frameworks' event loops and warnings out of this test run.
    maker = FRAMEWORKS / "make_fixtures.py"
    command = [sys.executable, str(maker), "--out", str(tmp_path), framework]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (tmp_path / "spansift.yaml").write_text((FRAMEWORKS / "spansift.yaml").read_text())
    labels = quality.labels(FRAMEWORKS)
    labels["scenarios"] = {
        s: v for s, v in labels["scenarios"].items() if s.startswith(framework + "__")
    }
    (tmp_path / "labels.yaml").write_text(yaml.safe_dump(labels))
    committed = {r.name: r.found for r in quality.evaluate(FRAMEWORKS)}
    for run in quality.evaluate(tmp_path):
        assert run.found == committed[run.name], run.name
