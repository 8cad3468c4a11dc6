"""Recorded framework traces: the default pack finds exactly the labelled exception types."""

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

RESULTS = quality.results(FRAMEWORKS)


@pytest.mark.parametrize("stem", sorted(RESULTS["fixtures"]), ids=str)
def test_fixture_finds_its_labelled_types(stem: str) -> None:
    """Each recorded run yields exactly the types labels.yaml expects (none when clean)."""
    result = RESULTS["fixtures"][stem]
    assert result["found"] == result["expected"], result["how"]


def test_coverage_table_is_current() -> None:
    """docs/coverage.md is what bench/quality.py generates from the fixtures."""
    committed = (ROOT / "docs" / "coverage.md").read_text()
    assert committed == quality.coverage(RESULTS), "run bench/quality.py --write-coverage"


def test_every_fixture_is_labelled() -> None:
    """No recorded trace is left out of labels.yaml, and every label has its trace."""
    files = {p.stem for p in FRAMEWORKS.glob("*.json")}
    assert files == set(RESULTS["fixtures"])


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
    for name in ("labels.yaml", "spansift.yaml"):
        (tmp_path / name).write_text((FRAMEWORKS / name).read_text())
    labels = yaml.safe_load((FRAMEWORKS / "labels.yaml").read_text())
    labels["fixtures"] = {
        s: v for s, v in labels["fixtures"].items() if s.startswith(framework + "__")
    }
    (tmp_path / "labels.yaml").write_text(yaml.safe_dump(labels))
    live = quality.results(tmp_path)
    for stem, result in live["fixtures"].items():
        assert result["found"] == RESULTS["fixtures"][stem]["found"], stem
