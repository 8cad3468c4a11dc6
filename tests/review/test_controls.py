"""Exceptions into controls: eval export, suggestions, approval grants and their reconciliation."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from review_helpers import hit, ids, rows, seed

ROOT = Path(__file__).parents[2]
CONTRACTS = str(ROOT / "tests" / "fixtures" / "review" / "spansift.yaml")


def test_export_evals_by_follow_up_and_by_id(
    db: Path, tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """Rows resolved with follow-up eval_case become JSONL cases carrying their evidence spans."""
    seed(db, [hit(1), hit(2, tool="search_docs")])
    cli("resolve", ids(db, "tool = 'refund_order'")[0], "--by", "a", "--resolution", "retry",
        "--follow-up", "eval_case", "--db", str(db))  # fmt: skip
    out = tmp_path / "evals.jsonl"
    result = cli("export", "evals", "--out", str(out), "--db", str(db))
    assert (result.exit_code, result.output) == (0, f"wrote 1 eval case to {out}\n")
    case = json.loads(out.read_text())
    assert case["expected"] == {
        "must_not": "tool_error", "boundary": "tool", "rule_id": "tool-failed",
        "tool": "refund_order",
    }  # fmt: skip
    assert case["exception"]["resolution"] == "retry"
    assert case["evidence"][0]["name"] == "execute_tool refund_order"
    other = ids(db, "tool = 'search_docs'")[0]
    result = cli("export", "evals", other[:8], "--out", str(out), "--db", str(db))
    assert result.exit_code == 0
    assert json.loads(out.read_text())["id"] == other


def test_export_without_target_is_an_error(db: Path, cli: Callable[..., Result]) -> None:
    """`spansift export` alone names the two things it can do."""
    seed(db, [hit(1)])
    result = cli("export", "--db", str(db))
    assert result.exit_code == 1
    assert "pass --parquet DIR, or use `spansift export evals`" in result.output


def test_suggest_turns_repeats_into_changes(db: Path, cli: Callable[..., Result]) -> None:
    """Three denials of one tool suggest removing it from tools.allowed; one-offs stay quiet."""
    denied = [hit(n, kind="approval_denied", rule="approval-denied") for n in range(1, 4)]
    seed(db, [*denied, hit(9, kind="unknown_tool", rule="unknown-tool", tool="rm_rf")])
    result = cli("suggest", "--db", str(db))
    assert result.exit_code == 0, result.output
    first = rows(db, "SELECT min(occurred_at)::DATE FROM exceptions")[0][0]
    assert result.output == (
        f"contract support-agent / refund_order: 3x since {first}\n"
        "         remove refund_order from agents.support-agent.tools.allowed: denied 3 times "
        "(follow-up: permission_change)\n"
    )


def _grant(cli: Callable[..., Result], db: Path, *args: str) -> Result:
    return cli("grant", "--agent", "support-agent", "--tool", "refund_order", "--justification",
               "month-end refunds", "--contracts", CONTRACTS, "--db", str(db), *args)  # fmt: skip


def test_high_impact_grant_needs_two_approvers(db: Path, cli: Callable[..., Result]) -> None:
    """A grant for a tool the contract marks high-impact is refused with one approver."""
    seed(db, [hit(1)])
    result = _grant(cli, db, "--expires", "24h", "--by", "alice")
    assert result.exit_code == 1
    assert "needs two different approvers" in result.output
    result = _grant(cli, db, "--expires", "24h", "--by", "alice", "--by", "bob")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("granted ")


def test_grant_covers_uses_and_reconciles(db: Path, cli: Callable[..., Result]) -> None:
    """Covered uses go to grant_uses; out-of-scope and post-expiry uses stay exceptions."""
    seed(db, [hit(1)])
    by = ("--by", "alice", "--by", "bob")
    scope = ("--scope", "workflow=support,uses=2")
    assert _grant(cli, db, "--expires", "24h", *scope, *by).exit_code == 0
    assert _grant(cli, db, "--expires", "1s", "--scope", "workflow=never", *by).exit_code == 0
    wrong = {"kind": "wrong_tool", "rule": "wrong-tool", "age_days": -0.0001}
    written = seed(db, [hit(n, **wrong) for n in (10, 11, 12)])  # type: ignore[arg-type]
    assert written == 1  # two covered, the third is past `uses=2`
    seed(db, [hit(13, workflow="billing", **wrong)])  # type: ignore[arg-type]
    assert rows(db, "SELECT count(*) FROM grant_uses") == [(2,)]
    wrong_rows = "SELECT count(*) FROM exceptions WHERE exception_type = 'wrong_tool'"
    assert rows(db, wrong_rows) == [(2,)]
    result = cli("grants", "--db", str(db))
    assert result.exit_code == 0, result.output
    findings = result.output.split("\n\n", 1)[1].splitlines()
    assert len(findings) == 3
    assert "was exceeded 2 times (outside scope workflow=support,uses=2)" in findings[0]
    assert "was never used: take the permission back" in findings[1]
    assert "was relied on 2 times after it expired" in findings[2]
    assert cli("verify", "--db", str(db)).exit_code == 0
