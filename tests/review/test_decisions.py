"""Decisions: ack, resolve, suppress, reopen; state in `exceptions`; the chain covers them."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import duckdb
from click.testing import Result
from review_helpers import Serve, hit, ids, rows, seed


def test_migration_keeps_the_documented_columns(db: Path) -> None:
    """`exceptions` is a view over `exception_rows` with exactly the DESIGN column list."""
    seed(db, [hit(1)])
    columns = [r[0] for r in rows(db, "DESCRIBE exceptions")]
    assert columns == [
        "exception_id", "occurred_at", "detected_at", "workflow", "step", "trace_id", "span_id",
        "exception_type", "severity", "rule_id", "agent", "tool", "boundary", "summary", "owner",
        "status", "resolution", "follow_up", "evidence", "controls",
    ]  # fmt: skip
    kinds = dict(rows(db, "SELECT table_name, table_type FROM information_schema.tables"))
    assert (kinds["exceptions"], kinds["exception_rows"]) == ("VIEW", "BASE TABLE")


def test_ack_then_resolve_sets_status_owner_resolution(
    db: Path, cli: Callable[..., Result]
) -> None:
    """Acknowledging and then resolving one row by id prefix shows in its columns."""
    seed(db, [hit(1), hit(2, tool="search_docs")])
    target = ids(db, "tool = 'refund_order'")[0]
    result = cli("ack", target[:10], "--by", "alice", "--owner", "payments", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert result.output == f"acknowledged: 1 exception\n  {target[:12]}\n"
    result = cli(
        "resolve", target[:10], "--by", "bob", "--resolution", "retry with backoff",
        "--follow-up", "eval_case", "--db", str(db),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    state = rows(db, "SELECT status, owner, resolution, follow_up FROM exceptions ORDER BY tool")
    assert state == [
        ("resolved", "payments", "retry with backoff", "eval_case"),
        ("open", None, None, None),
    ]


def test_filters_select_rows(db: Path, cli: Callable[..., Result]) -> None:
    """`--type` and `--workflow` pick rows without ids; nothing selected is an error."""
    seed(db, [hit(1), hit(2, kind="wrong_tool", rule="wrong-tool"), hit(3, workflow="billing")])
    result = cli(
        "ack", "--type", "tool_error", "--workflow", "support", "--by", "a", "--db", str(db)
    )
    assert result.output.startswith("acknowledged: 1 exception\n")
    assert rows(db, "SELECT count(*) FROM exceptions WHERE status = 'acknowledged'") == [(1,)]
    result = cli("ack", "--by", "a", "--db", str(db))
    assert result.exit_code == 1
    assert "name exception ids or at least one filter" in result.output


def test_suppression_expires(db: Path, cli: Callable[..., Result]) -> None:
    """A suppressed row is `suppressed` until its expiry, then open again."""
    seed(db, [hit(1)])
    assert (
        cli(
            "suppress", "--rule", "tool-failed", "--for", "1h", "--by", "a", "--db", str(db)
        ).exit_code
        == 0
    )
    assert rows(db, "SELECT status FROM exceptions") == [("suppressed",)]
    con = duckdb.connect(str(db))
    con.execute("UPDATE decisions SET suppressed_until = suppressed_until - INTERVAL 2 HOUR")
    con.close()
    assert rows(db, "SELECT status FROM exceptions") == [("open",)]


def test_resolved_pattern_regresses(db: Path, cli: Callable[..., Result]) -> None:
    """A new row of a resolved pattern (rule, workflow, tool) is `regressed`; reopen works."""
    seed(db, [hit(1, age_days=3)])
    assert cli("resolve", "--rule", "tool-failed", "--by", "a", "--resolution", "fixed",
               "--db", str(db)).exit_code == 0  # fmt: skip
    seed(db, [hit(2, age_days=0.0), hit(3, age_days=0.0, tool="search_docs")])
    state = rows(db, "SELECT tool, status FROM exceptions ORDER BY occurred_at, tool")
    assert state == [
        ("refund_order", "resolved"),
        ("refund_order", "regressed"),
        ("search_docs", "open"),
    ]
    assert cli("reopen", "--status", "resolved", "--by", "a", "--db", str(db)).exit_code == 0
    assert rows(db, "SELECT count(*) FROM exceptions WHERE status = 'open'") == [(3,)]


def test_verify_covers_decisions(db: Path, cli: Callable[..., Result]) -> None:
    """`spansift verify` passes after decisions and fails when a decision row is edited."""
    seed(db, [hit(1)])
    cli("ack", "--rule", "tool-failed", "--by", "alice", "--db", str(db))
    result = cli("verify", "--db", str(db))
    assert (result.exit_code, result.output[:20]) == (0, "ok: 4 chained rows, ")
    con = duckdb.connect(str(db))
    con.execute("UPDATE decisions SET actor = 'mallory'")
    con.close()
    result = cli("verify", "--db", str(db))
    assert result.exit_code == 1
    assert "changed: decision " in result.output


def test_decisions_go_through_a_running_receiver(
    db: Path, tmp_path: Path, cli: Callable[..., Result], serve: Callable[..., Serve]
) -> None:
    """While `spansift serve` holds the file, `ack` is applied by the receiver and chained."""
    seed(db, [hit(1), hit(2, tool="search_docs")])
    server = serve(db, "--token", "s3cret")
    denied = cli("ack", "--rule", "tool-failed", "--by", "alice", "--db", str(db))
    assert denied.exit_code == 1
    assert "needs a token" in denied.output
    result = cli(
        "ack", "--rule", "tool-failed", "--by", "alice", "--db", str(db), "--token", "s3cret"
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("acknowledged: 2 exceptions\n")
    listed = cli("ls", "--status", "acknowledged", "--db", str(db), "--token", "s3cret")
    assert listed.output.count("acknowledged") == 2
    request = urllib.request.Request(
        f"{server.url}/spansift/suspended?agent=support-agent",
        headers={"Authorization": "Bearer s3cret"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["suspended"] is False
    assert server.stop() == 0
    result = cli("verify", "--db", str(db))
    assert (result.exit_code, result.output[:20]) == (0, "ok: 8 chained rows, ")
