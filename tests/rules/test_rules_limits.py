"""Hostile rule and contract files: deep nesting, alias bombs and bad bytes are located errors."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from spansift.errors import ConfigError
from spansift.rules import load_ruleset

RULE_HEAD = (
    "spansift_rules: 1\nitems:\n  - rule: deep\n    exception: tool_error\n    severity: low\n"
    "    boundary: b\n    summary: s\n    when: "
)


def _deep(levels: int) -> str:
    return RULE_HEAD + "{any: [" * levels + "{status: error}" + "]}" * levels + "\n"


def _alias_bomb() -> str:
    """About 500 bytes whose aliases expand to 9**9 list entries."""
    lines = ["spansift_rules: 1", "x0: &x0 [l, l, l, l, l, l, l, l, l]"]
    lines += [f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]" for i in range(1, 9)]
    lines.append("items:\n  - list: big\n    values: *x8")
    return "\n".join(lines) + "\n"


def _first_problem(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_ruleset([str(path)])
    return str(caught.value.problems[0]).splitlines()[0]


def test_nesting_300_deep_is_a_located_error(tmp_path: Path) -> None:
    """A condition nested 300 deep is refused where it passes the bound, not with RecursionError."""
    path = tmp_path / "deep.yaml"
    path.write_text(_deep(300))
    assert _first_problem(path) == f"{path}:8:227: RULE_TOO_DEEP: nesting deeper than 64 levels"


def test_moderate_nesting_still_loads(tmp_path: Path) -> None:
    """Nesting well inside the bound loads as before."""
    path = tmp_path / "ok.yaml"
    path.write_text(_deep(10))
    assert len(load_ruleset([str(path)], None)) >= 1


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    """A 500-byte alias bomb is a located error within a second, without expanding it."""
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb())
    started = time.monotonic()
    problem = _first_problem(path)
    assert time.monotonic() - started < 1.0
    assert problem == (
        f"{path}:7:5: RULE_ALIAS_EXPANSION: aliases expand this document to more than 100,000 nodes"
    )


def test_invalid_utf8_is_located(tmp_path: Path) -> None:
    """Invalid UTF-8 is reported at its line and column, not as a missing file."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"spansift_rules: 1\nitems:\n  - list: names\n    values: [Jos\xe9]\n")
    assert _first_problem(path) == f"{path}:4:17: RULE_ENCODING: invalid UTF-8 (byte 0xe9)"


def test_contracts_alias_bomb_is_refused(tmp_path: Path) -> None:
    """The contracts file gets the same bound."""
    path = tmp_path / "spansift.yaml"
    path.write_text(_alias_bomb().replace("spansift_rules: 1\n", "").replace("items:", "agents:"))
    with pytest.raises(ConfigError) as caught:
        load_ruleset(None, str(path))
    assert "CONTRACT_ALIAS_EXPANSION" in str(caught.value.problems[0])


@pytest.mark.parametrize("kind", ["deep", "bomb"])
def test_rules_check_prints_no_traceback(tmp_path: Path, kind: str) -> None:
    """`spansift rules check` on a hostile file exits 1 with located lines and no traceback."""
    path = tmp_path / f"{kind}.yaml"
    path.write_text(_deep(5000) if kind == "deep" else _alias_bomb())
    result = subprocess.run(
        [sys.executable, "-m", "spansift", "rules", "check", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith(f"{path}:")
    assert result.stderr.startswith("Error: 1 problem")
