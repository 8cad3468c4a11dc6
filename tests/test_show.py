"""`spansift show` prints the offending span's attributes, not only the tree."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from spansift.cli import main

SAMPLE = Path(__file__).parents[1] / "examples" / "agent-traces.jsonl"


def test_show_lists_the_offending_span_attributes_then_the_tree(tmp_path: Path) -> None:
    """The refund's status message, GenAI attributes (keys spansift reads first), events and
    resource come before the trace tree; prompts and arguments never appear."""
    db = tmp_path / "log.duckdb"
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", str(SAMPLE), "--db", str(db)]).exit_code == 0
    result = runner.invoke(main, ["show", "5ddf9043b964", "--db", str(db)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = lines.index(
        "offending span: execute_tool lookup_customer_ssn  [error: Unknown tool name: "
        "'lookup_customer_ssn'. Available tools: 'get_order', 'refund_order']"
    )
    assert lines[start + 1 : start + 9] == [
        "  gen_ai.agent.name               support-agent",
        "  gen_ai.operation.name           execute_tool",
        "  gen_ai.tool.call.id             call_lookup_customer_ssn",
        "  gen_ai.tool.name                lookup_customer_ssn",
        "  pydantic_ai.tool.failure_stage  validation",
        "  event exception                 exception.type=ModelRetry exception.message=Unknown "
        "tool name: 'lookup_customer_ssn'. Available tools: 'get_order', 'refund_order'",
        "  resource                        service.name=support",
        "",
    ]
    assert lines[start + 9 :] == [
        "evidence: 3 spans of the trace",
        "  invoke_agent support-agent  [unset, 1000 ms]",
        "    chat gpt-4o  [unset, 690 ms]",
        ">   execute_tool lookup_customer_ssn  [error, 240 ms]",
    ]


def test_show_json_carries_the_offending_span(tmp_path: Path) -> None:
    """`show --format json` has the row, the offending span's evidence and the trace's spans."""
    db = tmp_path / "log.duckdb"
    runner = CliRunner()
    runner.invoke(main, ["ingest", str(SAMPLE), "--db", str(db)])
    doc = json.loads(
        runner.invoke(main, ["show", "b2058d", "--db", str(db), "--format", "json"]).stdout
    )
    assert doc["exception"]["tool"] == "refund_order"
    assert doc["offending_span"]["attributes"]["error.type"] == "PaymentGatewayTimeout"
    assert [s["offending"] for s in doc["spans"]] == [False, False, True]
