"""`controls:` in rules: checked ids, overrides that add, rows that keep them."""

from __future__ import annotations

from pathlib import Path

import pytest

from spansift.errors import ConfigError
from spansift.rules import load_ruleset
from spansift.rules._controls import check_control

RULE = """spansift_rules: 1
items:
  - rule: refund_failed
    exception: tool_error
    severity: high
    boundary: payments
    summary: "{tool.name} failed"
    when: {span.kind: tool, status: error}
    controls: [owasp-asi:ASI02, maestro:L3, nist-ai-rmf:MEASURE-2.4, eu-ai-act:art12]
"""


@pytest.mark.parametrize(
    ("control", "ok"),
    [
        ("owasp-asi:ASI10", True),
        ("owasp-asi:ASI11", False),
        ("maestro:L7", True),
        ("maestro:L8", False),
        ("nist-ai-rmf:MANAGE-4.1", True),
        ("nist-ai-rmf:MANAGE", True),
        ("nist-ai-rmf:MANAGE-4.4", False),
        ("nist-ai-rmf:MEASURE-2.13", True),
        ("eu-ai-act:art14(4)(d)", True),
        ("eu-ai-act:art114", False),
        ("soc2:CC7.2", True),
        ("ASI02", False),
    ],
)
def test_controls_are_checked_against_the_published_ids(control: str, ok: bool) -> None:
    """Known frameworks accept only their published ids; other `name:id` pass as written."""
    assert (check_control(control) is None) is ok


def test_rows_of_a_rule_carry_its_controls_and_an_override_adds(tmp_path: Path) -> None:
    """A later file's `override:` adds controls to a rule; the compiled match carries all."""
    (tmp_path / "a.yaml").write_text(RULE)
    (tmp_path / "b.yaml").write_text(
        "spansift_rules: 1\nitems:\n  - override: refund_failed\n"
        "    controls: [soc2:CC7.2, maestro:L3]\n"
    )
    ruleset = load_ruleset([tmp_path])
    (match,) = ruleset.match({"span.kind": "tool", "status": "error", "tool.name": "refund"})
    assert match.controls == (
        "owasp-asi:ASI02", "maestro:L3", "nist-ai-rmf:MEASURE-2.4", "eu-ai-act:art12",
        "soc2:CC7.2",
    )  # fmt: skip


def test_a_bad_control_is_reported_where_it_stands(tmp_path: Path) -> None:
    """A misspelt framework gets a located RULE_BAD_CONTROL with a suggestion."""
    (tmp_path / "a.yaml").write_text(RULE.replace("maestro:L3", "owasp_asi:ASI02"))
    with pytest.raises(ConfigError) as caught:
        load_ruleset([tmp_path / "a.yaml"])
    problem = caught.value.problems[0]
    assert (problem.code, problem.origin.line, problem.origin.col) == ("RULE_BAD_CONTROL", 9, 15)
    assert problem.hint == "did you mean 'owasp-asi'?"


def test_controls_are_stored_chained_and_verified(tmp_path: Path) -> None:
    """A row keeps the controls of its rule in `exceptions.controls`; `verify` covers them."""
    from click.testing import CliRunner

    from spansift.cli import main

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yaml").write_text(RULE)
    trace = tmp_path / "t.json"
    trace.write_text(
        '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":'
        '{"stringValue":"shop"}}]},"scopeSpans":[{"spans":[{"traceId":"'
        + "a" * 32
        + '","spanId":"'
        + "b" * 16
        + '","name":"execute_tool refund","kind":1,"startTimeUnixNano":"1700000000000000000",'
        '"endTimeUnixNano":"1700000001000000000","status":{"code":2},"attributes":['
        '{"key":"gen_ai.operation.name","value":{"stringValue":"execute_tool"}},'
        '{"key":"gen_ai.tool.name","value":{"stringValue":"refund"}}]}]}]}]}\n'
    )
    db = str(tmp_path / "log.duckdb")
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", str(trace), "--rules", str(rules), "--db", db])
    assert result.exit_code == 0, result.output
    query = "SELECT controls FROM exceptions"
    out = runner.invoke(main, ["query", query, "--format", "json", "--db", db]).output
    assert '"owasp-asi:ASI02"' in out
    assert '"eu-ai-act:art12"' in out
    runs = runner.invoke(main, ["query", "SELECT * FROM workflow_runs", "--db", db]).output
    assert "shop" in runs  # the root span was counted as one run of its workflow
    assert runner.invoke(main, ["verify", "--db", db]).exit_code == 0


def _doc_mapping() -> dict[str, set[str]]:
    """The mapping table of docs/controls.md, as controls per rule id."""
    text = (Path(__file__).parents[2] / "docs" / "controls.md").read_text()
    table = text.split("## The mapping", 1)[1].split("###", 1)[0]
    prefixes = ("owasp-asi", "maestro", "nist-ai-rmf", "eu-ai-act")
    out: dict[str, set[str]] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != 6 or not cells[0].startswith("`"):
            continue
        controls = set()
        for prefix, cell in zip(prefixes, cells[2:], strict=True):
            controls |= {f"{prefix}:{c.strip()}" for c in cell.split(",") if c.strip() != "-"}
        out[cells[0].strip("`")] = controls
    return out


def test_every_default_rule_carries_the_documented_controls() -> None:
    """Each rule of the pack lists exactly the controls docs/controls.md maps it to."""
    ruleset = load_ruleset()
    documented = _doc_mapping()
    assert set(documented) == {r.id for r in ruleset.all_rules}
    for rule in ruleset.all_rules:
        assert set(rule.spec.controls) == documented[rule.id], rule.id
        frameworks = {c.partition(":")[0] for c in rule.spec.controls}
        assert {"maestro", "nist-ai-rmf", "eu-ai-act"} <= frameworks, rule.id
