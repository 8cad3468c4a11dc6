"""The labelled corpora: what the default pack finds in real framework runs.

Each corpus (tests/fixtures/corpus/<stack>/) holds runs recorded offline from a real agent
stack, labels written from what each run did, and the contracts file a newcomer would
write. Where the pack's result differs from a label, the corpus's `misses.yaml` says so and
why; any other difference fails, so a change that loses (or gains) a detection is seen.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import quality

FOLDERS = quality.stacks()


@cache
def _runs(folder: Path) -> tuple[quality.Run, ...]:
    return tuple(quality.evaluate(folder))


def _differences(runs: tuple[quality.Run, ...]) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for run in runs:
        missed = sorted(set(run.expected) - run.found)
        extra = sorted(run.found - set(run.expected))
        if missed or extra:
            out[run.name] = {"missed": missed, "extra": extra}
    return out


def _known(folder: Path) -> dict[str, dict[str, list[str]]]:
    path = folder / "misses.yaml"
    entries = yaml.safe_load(path.read_text()) if path.is_file() else None
    out: dict[str, dict[str, list[str]]] = {}
    for name, entry in (entries or {}).items():
        assert str(entry.get("why", "")).strip(), f"{path}: {name} needs a 'why'"
        out[name] = {
            "missed": sorted(entry.get("missed", [])),
            "extra": sorted(entry.get("extra", [])),
        }
    return out


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_corpus_matches_labels_but_for_known_misses(folder: Path) -> None:
    """Every run yields its labelled types, except the misses its corpus documents."""
    assert _differences(_runs(folder)) == _known(folder)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_run_is_labelled(folder: Path) -> None:
    """No recorded run is left out of labels.yaml, and every label has its run."""
    files = {p.stem for p in folder.glob("*.json") if not p.name.startswith("package")}
    assert files == set(quality.labels(folder)["scenarios"])


def test_coverage_table_is_current() -> None:
    """docs/coverage.md is what bench/quality.py generates from the corpora."""
    runs = [run for folder in FOLDERS for run in _runs(folder)]
    committed = (ROOT / "docs" / "coverage.md").read_text()
    assert committed == quality.coverage(runs), (
        "run python bench/quality.py --write-coverage docs/coverage.md"
    )
