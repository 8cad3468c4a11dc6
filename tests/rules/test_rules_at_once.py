"""`rules check` reports every problem of every file in one run, each with its hint.

Values a closed canonical field never holds, misspelt canonical names, typos in test
spans, unknown lists inside rules that have other problems, and contract mistakes used
to surface one stage at a time; the fixture holds one of each.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from spansift.cli import main
from spansift.errors import ConfigError
from spansift.rules import load_ruleset

AT_ONCE = Path(__file__).parents[1] / "fixtures" / "rules" / "at_once"


def test_every_problem_of_every_file_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """One `rules check` prints all eight problems in file order, each with a did-you-mean."""
    monkeypatch.chdir(AT_ONCE)
    args = ["rules", "check", "--no-default-rules", "rules.yaml", "--contracts", "contracts.yaml"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "rules.yaml:12:25: RULE_UNKNOWN_VALUE: 'span.kind' never has the value 'tol'",
        "  hint: did you mean 'tool'?",
        "rules.yaml:13:25: RULE_UNKNOWN_VALUE: 'status' never has the value 'Error'",
        "  hint: did you mean 'error'? (values are lower case)",
        "rules.yaml:14:23: RULE_UNKNOWN_VALUE: 'gate.decision' never has the value 'rejectd' "
        "(in list 'decisions')",
        "  hint: did you mean 'requested'?",
        "rules.yaml:15:7: RULE_UNKNOWN_FIELD: unknown field 'usage.total'",
        "  hint: did you mean 'usage.total_tokens'?",
        "rules.yaml:17:40: RULE_BAD_TEST: unknown span key 'stauts'",
        "  hint: did you mean 'status'?",
        "rules.yaml:20:15: RULE_UNKNOWN_SEVERITY: unknown severity 'hgh'",
        "  hint: did you mean 'high'?",
        "rules.yaml:24:19: RULE_UNKNOWN_LIST: no list named 'payment_tool'",
        "  hint: define it with '- list: payment_tool', or write [payment_tool]",
        "contracts.yaml:4:7: CONTRACT_UNKNOWN_KEY: unknown key 'alowed' in 'support-agent' tools",
        "  hint: did you mean 'allowed'?",
    ]
    assert result.stderr == "Error: 8 problems in rules or contracts; fix the files named above\n"


def rule_file(tmp_path: Path, when: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(
        "spansift_rules: 1\nitems:\n  - rule: r\n    exception: tool_error\n    severity: low\n"
        f"    boundary: b\n    summary: s\n    when: {when}\n"
    )
    return path


@pytest.mark.parametrize(
    "when",
    [
        "{status: error}",
        "{span.kind: [tool, llm]}",
        "{status: {equals: ERROR, ignore_case: true}}",
        "{tool.outcome: {not_in: [ok, pending]}}",
        "{limit.exceeded: iterations}",
        "{tool.description: {contains: refund}}",
        "{error.message: {equals: eror}}",
    ],
)
def test_values_a_field_can_hold_load(tmp_path: Path, when: str) -> None:
    """Closed values (any case with ignore_case), open fields and raw keys all load."""
    assert len(load_ruleset([rule_file(tmp_path, when)], default_rules=False)) == 1


def test_a_closed_value_in_a_named_list_is_reported_where_the_list_is_used(
    tmp_path: Path,
) -> None:
    """`in: some_list` on a closed field checks the list's values against the field."""
    path = rule_file(tmp_path, "{human.decision: {in: verdicts}}")
    path.write_text(path.read_text() + "  - list: verdicts\n    values: [rejected, editted]\n")
    with pytest.raises(ConfigError) as caught:
        load_ruleset([path], default_rules=False)
    (problem,) = caught.value.problems
    assert (problem.code, problem.origin.line, problem.hint) == (
        "RULE_UNKNOWN_VALUE",
        8,
        "did you mean 'edited'?",
    )
