"""Deciding per pattern, assigning, revoking grants, JSON and control views, contain metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from click.testing import Result
from review_helpers import hit, ids, rows, seed

from spansift.model import Severity


def test_suppressed_pattern_keeps_later_rows_suppressed(
    db: Path, cli: Callable[..., Result]
) -> None:
    """`suppress --pattern` covers the next row of the pattern too, and nothing else."""
    seed(db, [hit(1, age_days=2)])
    result = cli("suppress", ids(db)[0][:8], "--pattern", "--for", "7d", "--by", "a",
                 "--db", str(db))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.startswith("suppressed: 1 pattern\n  pattern ")
    seed(db, [hit(2, age_days=0), hit(3, age_days=0, tool="search_docs")])
    state = rows(db, "SELECT tool, status FROM exceptions ORDER BY occurred_at, tool")
    assert state == [
        ("refund_order", "suppressed"),
        ("refund_order", "suppressed"),
        ("search_docs", "open"),
    ]
    assert cli("verify", "--db", str(db)).exit_code == 0


def test_resolved_pattern_regresses_until_its_expiry(db: Path, cli: Callable[..., Result]) -> None:
    """A pattern resolved for 1d: a row after it is regressed; a reopen of one row wins."""
    seed(db, [hit(1, age_days=2)])
    result = cli("resolve", "--rule", "tool-failed", "--pattern", "--for", "1d", "--by", "a",
                 "--resolution", "retry added", "--follow-up", "eval_case",
                 "--db", str(db))  # fmt: skip
    assert result.exit_code == 0, result.output
    seed(db, [hit(2, age_days=-0.0001)])
    state = rows(db, "SELECT status, resolution FROM exceptions ORDER BY occurred_at")
    assert state == [("resolved", "retry added"), ("regressed", "retry added")]
    newest = rows(db, "SELECT exception_id FROM exceptions ORDER BY occurred_at DESC")[0][0]
    assert cli("reopen", newest[:10], "--by", "b", "--db", str(db)).exit_code == 0
    assert rows(db, "SELECT status FROM exceptions ORDER BY occurred_at") == [
        ("resolved",),
        ("open",),
    ]


def test_assign_changes_owner_not_status(db: Path, cli: Callable[..., Result]) -> None:
    """`assign --owner` moves rows to an owner; acknowledged rows stay acknowledged."""
    seed(db, [hit(1), hit(2, tool="search_docs")])
    first = ids(db, "tool = 'refund_order'")[0]
    cli("ack", first[:8], "--by", "a", "--db", str(db))
    result = cli("assign", "--workflow", "support", "--owner", "payments", "--by", "lead",
                 "--db", str(db))  # fmt: skip
    assert result.output.startswith("assigned: 2 exceptions\n"), result.output
    state = rows(db, "SELECT tool, owner, status FROM exceptions ORDER BY tool")
    assert state == [
        ("refund_order", "payments", "acknowledged"),
        ("search_docs", "payments", "open"),
    ]
    assert cli("assign", first[:8], "--by", "lead", "--db", str(db)).exit_code == 1


def test_grant_revoke_makes_uses_exceptions_again(db: Path, cli: Callable[..., Result]) -> None:
    """After `grant revoke` a use the grant covered is written as an exception again."""
    seed(db, [hit(1)])
    granted = cli("grant", "--agent", "support-agent", "--tool", "refund_order",
                  "--expires", "24h", "--by", "alice", "--justification", "month end",
                  "--db", str(db))  # fmt: skip
    assert granted.exit_code == 0, granted.output
    grant_id = granted.output.split()[1].rstrip(":")
    wrong = {"kind": "wrong_tool", "rule": "wrong-tool", "age_days": -0.0001}
    assert seed(db, [hit(10, **wrong)]) == 0  # type: ignore[arg-type]
    revoked = cli("grant", "revoke", grant_id, "--by", "bob", "--reason", "done", "--db", str(db))
    assert revoked.output.startswith(f"revoked {grant_id} at "), revoked.output
    assert seed(db, [hit(11, **wrong)]) == 1  # type: ignore[arg-type]
    report = cli("grants", "--db", str(db)).output
    assert " revoked " in report
    assert cli("verify", "--db", str(db)).exit_code == 0


def test_review_json_and_by_control(db: Path, cli: Callable[..., Result]) -> None:
    """`--format json` carries patterns in triage order; `--by control` groups by control."""
    critical = hit(2, severity=Severity.CRITICAL, tool="shell", age_days=0.5)
    controlled = replace(
        critical, match=replace(critical.match, controls=("owasp-asi:ASI02", "eu-ai-act:art12"))
    )
    seed(db, [hit(1, age_days=3), controlled])
    doc = json.loads(cli("review", "--format", "json", "--db", str(db)).output)
    assert [(p["severity"], p["subject"]) for p in doc["patterns"]] == [
        ("critical", "shell"),
        ("medium", "refund_order"),
    ]
    assert doc["patterns"][0]["controls"] == ["eu-ai-act:art12", "owasp-asi:ASI02"]
    assert doc["patterns"][1]["open_age"] == "3d"
    assert doc["totals"]["exceptions"] == 2
    out = cli("review", "--by", "control", "--db", str(db)).output
    by_control = out.split("## By control\n", 1)[1].split("\n## ", 1)[0].splitlines()
    assert [line.split()[:3] for line in by_control[2:-1]] == [
        ["eu-ai-act:art12", "1", "1"],
        ["owasp-asi:ASI02", "1", "1"],
        ["(none)", "1", "1"],
    ]


def test_contain_and_affected_records(db: Path, cli: Callable[..., Result]) -> None:
    """A suspension contains rows of its agent; failed tools name distinct targets."""
    base = hit(1, age_days=0.01)
    targeted = [
        replace(h, span=replace(h.span, attributes={"spansift.tool.target": target}))
        for h, target in ((base, "order 42"), (hit(2, age_days=0.01), "order 42"),
                          (hit(3, age_days=0.01), "order 43"))
    ]  # fmt: skip
    seed(db, targeted)
    cli("suspend", "--agent", "support-agent", "--by", "sre", "--reason", "storm", "--db", str(db))
    out = cli("review", "--db", str(db)).output
    metrics = out.split("## Incident metrics (medians)\n", 1)[1].splitlines()
    fields = metrics[2].split()
    assert fields[0] == "support"
    assert fields[-3:] == ["3", "2", "0"]  # contained, affected records, review bypasses


def test_ingest_routes_owners_as_rows_are_written(
    db: Path, tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """`ingest --owners` writes the routed owner on the row, so `ls` shows the review's owner."""
    owners = tmp_path / "owners.yaml"
    owners.write_text(
        "owners:\n  - match: {tool: refund_*}\n    owner: payments-oncall\n"
        "  - match: {workflow: support}\n    owner: support-team\n"
    )
    traces = str(Path(__file__).parents[2] / "examples" / "agent-traces.jsonl")
    result = cli("ingest", traces, "--owners", str(owners), "--db", str(db))
    assert result.exit_code == 0, result.output
    assert rows(db, "SELECT tool, owner FROM exception_rows ORDER BY tool") == [
        ("lookup_customer_ssn", "support-team"),
        ("refund_order", "payments-oncall"),
        ("search_docs", "support-team"),
    ]
    assert rows(db, "SELECT sum(runs) FROM workflow_runs WHERE workflow = 'support'") == [(4,)]
