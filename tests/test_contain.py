"""Containment by rule: a rule with `contain:` suspends the agent it caught."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from spansift import ExceptionLogProcessor
from spansift.cli import main
from spansift.errors import ConfigError
from spansift.rules import load_ruleset

RULE = """\
spansift_rules: 1
items:
  - rule: refund_failed
    exception: tool_error
    severity: critical
    boundary: payments
    summary: "{tool.name} failed for {agent.name}"
    contain: TARGET
    when: {tool.name: refund_order, status: error}
"""


def _pack(tmp_path: Path, target: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "payments.yaml").write_text(RULE.replace("TARGET", target))
    return folder


def test_rule_suspends_the_agent_it_caught(tmp_path: Path, db: Path) -> None:
    """A failed refund suspends support-agent: the processor says so and the row is chained."""
    processor = ExceptionLogProcessor(db=db, rules=[_pack(tmp_path, "agent")])
    provider = TracerProvider()
    provider.add_span_processor(processor)
    assert not processor.is_suspended("support-agent")
    span = provider.get_tracer("app").start_span(
        "execute_tool refund_order",
        attributes={"gen_ai.tool.name": "refund_order", "gen_ai.agent.name": "support-agent"},
    )
    span.set_status(Status(StatusCode.ERROR, "card declined"))
    span.end()
    assert processor.force_flush(10_000)
    deadline = time.monotonic() + 5
    while not processor.is_suspended("support-agent") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processor.is_suspended("support-agent")
    assert not processor.is_suspended("billing-agent")
    provider.shutdown()
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT target_kind, target, action, actor FROM suspensions").fetchall()
    assert rows == [("agent", "support-agent", "suspend", "rule:refund_failed")]
    verified = CliRunner().invoke(main, ["verify", "--db", str(db)])
    assert verified.exit_code == 0, verified.output


def test_contain_must_name_agent_or_workflow(tmp_path: Path) -> None:
    """`contain: team` is refused with the file, line and the two valid values."""
    with pytest.raises(ConfigError) as caught:
        load_ruleset([_pack(tmp_path, "team")], default_rules=False)
    problem = caught.value.problems[0]
    assert (problem.code, problem.origin.line) == ("RULE_BAD_VALUE", 8)
    assert "agent" in problem.hint and "workflow" in problem.hint
