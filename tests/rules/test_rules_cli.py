"""`spansift rules check|test|explain` through click's CliRunner: exact lines and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from spansift.cli.rules_cmd import rules
from spansift.rules import load_ruleset

REPO_RULES = Path(__file__).resolve().parents[2] / "rules"
BAD = Path(__file__).resolve().parent.parent / "fixtures" / "rules" / "bad"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_check_ok(runner: CliRunner) -> None:
    """check on the default pack prints one ok line with counts and exits 0."""
    result = runner.invoke(rules, ["check", str(REPO_RULES)])
    assert result.exit_code == 0
    count = len(load_ruleset([REPO_RULES]).all_rules)
    assert result.output == f"ok: {count} rules, 1 lists, 3 macros in {REPO_RULES} (built-in)\n"


def test_check_reports_problems(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """check prints each problem with its hint and a final Error line, and exits 1."""
    monkeypatch.chdir(BAD)
    result = runner.invoke(rules, ["check", "unknown_modifier.yaml"])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "unknown_modifier.yaml:9:28: RULE_UNKNOWN_MODIFIER: "
        "unknown modifier 'contain' on field 'error.message'",
        "  hint: did you mean 'contains'?",
    ]
    assert result.stderr == "Error: 1 problem in rules or contracts; fix the files named above\n"


def test_check_verbose_shows_source_and_caret(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--verbose adds the offending source line and a caret under the column."""
    monkeypatch.chdir(BAD)
    result = runner.invoke(rules, ["check", "--verbose", "unknown_modifier.yaml"])
    assert result.stdout.splitlines()[1:3] == [
        "        when: {error.message: {contain: timeout}}",
        "                               ^",
    ]


def test_check_json(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """--json prints the problems as a list of objects."""
    monkeypatch.chdir(BAD)
    result = runner.invoke(rules, ["check", "--json", "unknown_severity.yaml"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {
            "path": "unknown_severity.yaml",
            "line": 6,
            "col": 15,
            "code": "RULE_UNKNOWN_SEVERITY",
            "message": "unknown severity 'hgh'",
            "hint": "did you mean 'high'?",
        }
    ]


def test_test_passes_on_default_pack(runner: CliRunner) -> None:
    """test prints one PASS line per rule and a summary, and exits 0."""
    result = runner.invoke(rules, ["test", str(REPO_RULES)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    count = len(load_ruleset([REPO_RULES]).all_rules)
    assert "PASS tool_error (7 cases)" in lines
    assert len([line for line in lines if line.startswith("PASS ")]) == count
    assert lines[-1].startswith(f"{count} rules, ") and lines[-1].endswith(" passed, 0 failed")


def test_test_reports_failing_case(runner: CliRunner, tmp_path: Path) -> None:
    """A case whose verdict is wrong prints FAIL with the case's place, and exits 1."""
    path = tmp_path / "r.yaml"
    path.write_text(
        "spansift_rules: 1\nitems:\n  - rule: r\n    exception: tool_error\n    severity: low\n"
        "    boundary: b\n    summary: s\n    when: {status: error}\n    tests:\n"
        "      - {hit: true, span: {status: error}}\n      - {hit: true, span: {status: ok}}\n"
    )
    result = runner.invoke(rules, ["test", "--no-default-rules", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "FAIL r (2 cases)",
        f"  {path}:11:9: expected hit, got no hit",
        "1 rule, 2 cases: 1 passed, 1 failed",
    ]


def test_explain(runner: CliRunner) -> None:
    """explain prints the compiled condition; an unknown id exits 1 with a suggestion."""
    result = runner.invoke(rules, ["explain", "wrong_tool", "--rules", str(REPO_RULES)])
    assert result.exit_code == 0
    assert result.output == (
        "span.kind == tool && tool.outcome in [ok, error, handled_error] && tool.name not in "
        "contract.tools.allowed && "
        "!(tool.type in [handoff, agent, builtin] || handoff.human == true)\n"
    )
    result = runner.invoke(rules, ["explain", "wrong_tol", "--rules", str(REPO_RULES)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no rule 'wrong_tol'; did you mean 'wrong_tool'? (in {REPO_RULES} (built-in))\n"
    )
