"""User rules extend the built-in pack, and `./spansift.yaml` is read, the same way everywhere.

`rules check|test|explain`, `ingest`, `serve` and `ExceptionLogProcessor` are each run
against one folder holding an override of a built-in rule and a contracts file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from spansift import ExceptionLogProcessor
from spansift.cli import main
from spansift.rules import default_rules_dir, load_ruleset

sys.path.insert(0, str(Path(__file__).parents[1] / "receiver"))
from receiver_helpers import Server, otlp_json, post, query_rows, wait_for

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "examples" / "agent-traces.jsonl"
OVERRIDE = "spansift_rules: 1\nitems:\n  - override: tool_error\n    severity: critical\n"
# support-agent may only read orders: its refund_order call in the sample is a wrong_tool.
CONTRACTS = "agents:\n  support-agent:\n    tools:\n      allowed: [get_order, search_docs]\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with `my-rules/override.yaml` and `spansift.yaml`, made current."""
    (tmp_path / "my-rules").mkdir()
    (tmp_path / "my-rules" / "override.yaml").write_text(OVERRIDE)
    (tmp_path / "spansift.yaml").write_text(CONTRACTS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _severities(db: Path) -> dict[str, str]:
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute("SELECT exception_type, severity FROM exceptions").fetchall()
    return {kind: severity for kind, severity in found}


def test_load_ruleset_extends_the_pack_and_reads_the_contracts_file(project: Path) -> None:
    """A folder overriding a built-in rule loads beside the pack; ./spansift.yaml is read."""
    ruleset = load_ruleset(["my-rules"])
    assert len(ruleset) == len(load_ruleset([], {}))
    tool_error = ruleset.rule("tool_error")
    assert tool_error is not None
    assert tool_error.spec.severity.value == "critical"
    assert ruleset.contracts.lookup("support-agent")[0] is not None
    assert not load_ruleset(["my-rules"], {}).contracts


def test_naming_the_built_in_pack_does_not_load_it_twice() -> None:
    """`rules check rules/` (as CI runs it) sees each built-in rule once."""
    assert len(load_ruleset([default_rules_dir()])) == len(load_ruleset())
    assert len(load_ruleset([default_rules_dir() / "tools.yaml"])) == len(load_ruleset())


def test_rules_commands_extend_the_pack_unless_told_not_to(project: Path) -> None:
    """check, test and explain see the override; --no-default-rules makes it an unknown id."""
    runner = CliRunner()
    check = runner.invoke(main, ["rules", "check", "my-rules"])
    assert check.exit_code == 0, check.output
    assert check.output.endswith(" + my-rules, contracts spansift.yaml\n")
    tested = runner.invoke(main, ["rules", "test", "my-rules"])
    assert tested.exit_code == 0, tested.output
    explained = runner.invoke(main, ["rules", "explain", "tool_error", "--rules", "my-rules"])
    assert explained.exit_code == 0, explained.output
    alone = runner.invoke(main, ["rules", "check", "--no-default-rules", "my-rules"])
    assert alone.exit_code == 1
    assert "RULE_OVERRIDE_UNKNOWN_ID: override of unknown rule 'tool_error'" in alone.output


def test_ingest_extends_the_pack_and_reads_the_contracts_file(project: Path) -> None:
    """`ingest --rules my-rules` writes the overridden severity and the contract's wrong_tool."""
    db = project / "log.duckdb"
    args = ["ingest", str(SAMPLE), "--db", str(db), "--rules", "my-rules"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    found = _severities(db)
    assert found["tool_error"] == "critical"
    assert "wrong_tool" in found


def test_processor_extends_the_pack_and_reads_the_contracts_file(project: Path) -> None:
    """`ExceptionLogProcessor(rules=[...])` behaves as the CLI: override applied, contract read."""
    db = project / "log.duckdb"
    provider = TracerProvider()
    provider.add_span_processor(ExceptionLogProcessor(db=db, rules=["my-rules"]))
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span(
        "execute_tool refund_order",
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "refund_order",
            "gen_ai.agent.name": "support-agent",
        },
    ) as span:
        span.set_status(Status(StatusCode.ERROR, "payment gateway timed out"))
    provider.shutdown()
    found = _severities(db)
    assert found["tool_error"] == "critical"
    assert "wrong_tool" in found


def test_serve_extends_the_pack_and_reads_the_contracts_file(project: Path) -> None:
    """`serve --rules my-rules`, started in the project folder, applies both."""
    doc = json.loads(otlp_json("ab" * 16, "cd" * 8, tool="refund_order"))
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["attributes"].append(
        {"key": "gen_ai.agent.name", "value": {"stringValue": "support-agent"}}
    )
    server = Server(project / "log.duckdb", project, ("--rules", "my-rules")).start()
    try:
        status, _, _ = post(
            f"{server.url}/v1/traces",
            json.dumps(doc).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 200

        def rows() -> dict[str, str]:
            found = query_rows(server, "SELECT exception_type, severity FROM exceptions")
            return {r["exception_type"]: r["severity"] for r in found} if len(found) == 2 else {}

        assert wait_for(rows, 15, "two exception rows") == {
            "tool_error": "critical",
            "wrong_tool": "high",
        }
    finally:
        server.kill()
