"""Tamper evidence: `verify` finds changed, deleted and inserted rows; checkpoints pin the head."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from spansift.cli import main

ROOT = Path(__file__).parents[1]


SAMPLE = str(ROOT / "examples" / "agent-traces.jsonl")


@pytest.fixture
def logged(runner: CliRunner, db: Path) -> Path:
    result = runner.invoke(main, ["ingest", SAMPLE, "--db", str(db)])
    assert result.exit_code == 0
    return db


def _sql(db: Path, sql: str) -> None:
    con = duckdb.connect(str(db))
    con.execute(sql)
    con.close()


def _verify(runner: CliRunner, db: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(main, ["verify", "--db", str(db), *args])
    return result.exit_code, result.stdout


def test_untouched_log_verifies(runner: CliRunner, logged: Path) -> None:
    """Three exceptions with their controls, the documents of their three traces (seven
    spans) and three links chain 12 rows."""
    code, out = _verify(runner, logged)
    assert code == 0
    assert out.startswith("ok: 12 chained rows, head ")


def test_reingest_keeps_the_chain_valid(runner: CliRunner, logged: Path) -> None:
    """Replaying the same input chains nothing new and the log still verifies."""
    runner.invoke(main, ["ingest", SAMPLE, "--db", str(logged)])
    code, out = _verify(runner, logged)
    assert (code, out.split(",")[0]) == (0, "ok: 12 chained rows")


def test_updated_row_is_reported(runner: CliRunner, logged: Path) -> None:
    """Editing a summary in place is caught as a changed row."""
    _sql(logged, "UPDATE exception_rows SET summary = 'nothing to see' WHERE tool = 'refund_order'")
    code, out = _verify(runner, logged)
    assert code == 1
    assert out.startswith("FAILED: ")
    assert "first: changed: exception " in out


def test_deleted_row_is_reported(runner: CliRunner, logged: Path) -> None:
    """Deleting an exception is caught as a deleted row."""
    _sql(logged, "DELETE FROM exception_rows WHERE exception_type = 'unknown_tool'")
    code, out = _verify(runner, logged)
    assert code == 1
    assert "first: deleted: exception " in out


def test_inserted_row_is_reported(runner: CliRunner, logged: Path) -> None:
    """A row added behind spansift's back has no chain entry and is reported."""
    _sql(
        logged,
        "INSERT INTO exception_rows SELECT 'f' || exception_id[2:], occurred_at, detected_at, "
        "workflow, step, trace_id, span_id, exception_type, severity, rule_id, agent, tool, "
        "boundary, summary, owner, status, resolution, follow_up, evidence "
        "FROM exception_rows LIMIT 1",
    )
    code, out = _verify(runner, logged)
    assert code == 1
    assert "inserted: exception f" in out


def test_deleted_chain_entry_is_reported(runner: CliRunner, logged: Path) -> None:
    """Removing a chain entry (one per write batch) breaks the links after it."""
    runner.invoke(
        main, ["ingest", str(ROOT / "tests/fixtures/otlp/agent_trace.pb"), "--db", str(logged)]
    )
    _sql(logged, "DELETE FROM log_chain WHERE seq = 1")
    code, out = _verify(runner, logged)
    assert code == 1
    assert "broken: " in out


def test_signed_checkpoint_detects_a_rewritten_log(
    runner: CliRunner, logged: Path, tmp_path: Path
) -> None:
    """A log rewritten consistently after a signed checkpoint no longer extends it."""
    key = tmp_path / "log.key"
    assert runner.invoke(main, ["checkpoint", "--new-key", str(key)]).exit_code == 0
    note = tmp_path / "head.note"
    signed = runner.invoke(main, ["checkpoint", "--db", str(logged), "--key", str(key)])
    assert signed.exit_code == 0
    note.write_text(signed.stdout)
    # One chain entry: the ingest wrote its 12 rows in one batch.
    assert signed.stdout.splitlines()[:2] == [f"spansift/{logged.name}", "1"]
    public = f"{key}.pub"
    code, out = _verify(runner, logged, "--checkpoint", str(note), "--public-key", public)
    assert (code, out.endswith(f"extends {note}\n")) == (0, True)

    # Rewrite history: drop everything and ingest a different log; the chain is valid again.
    _sql(
        logged,
        "DELETE FROM exception_traces; DELETE FROM trace_evidence; DELETE FROM exception_rows; "
        "DELETE FROM exception_controls; DELETE FROM log_chain",
    )
    runner.invoke(
        main, ["ingest", str(ROOT / "tests/fixtures/otlp/agent_trace.pb"), "--db", str(logged)]
    )
    assert _verify(runner, logged)[0] == 0
    code, out = _verify(runner, logged, "--checkpoint", str(note), "--public-key", public)
    assert code == 1
    assert "no longer extends it" in out


def test_forged_checkpoint_signature_is_refused(
    runner: CliRunner, logged: Path, tmp_path: Path
) -> None:
    """A note signed by another key fails verification with a clear error."""
    ours, theirs = tmp_path / "ours.key", tmp_path / "theirs.key"
    runner.invoke(main, ["checkpoint", "--new-key", str(ours)])
    runner.invoke(main, ["checkpoint", "--new-key", str(theirs)])
    note = tmp_path / "head.note"
    note.write_text(
        runner.invoke(main, ["checkpoint", "--db", str(logged), "--key", str(theirs)]).stdout
    )
    result = runner.invoke(
        main,
        ["verify", "--db", str(logged), "--checkpoint", str(note), "--public-key", f"{ours}.pub"],
    )
    assert result.exit_code == 1
    assert "no valid signature" in result.stderr


def test_show_prints_the_exception_and_marks_the_span(runner: CliRunner, logged: Path) -> None:
    """`show` takes the short id and prints the row and its evidence tree."""
    listed = runner.invoke(
        main, ["ls", "--db", str(logged), "--type", "unknown_tool", "--format", "csv"]
    )
    short_id = listed.stdout.splitlines()[1].split(",")[0]
    result = runner.invoke(main, ["show", short_id, "--db", str(logged)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"exception {short_id}")
    assert "unknown_tool (high)  open" in lines[0]
    assert ">   execute_tool lookup_customer_ssn  [error, 240 ms]" in lines
