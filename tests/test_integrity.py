"""`verify` sees what the chain cannot: redefined views, dropped keys, twins, unsigned notes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from spansift.cli import main

SAMPLE = str(Path(__file__).parents[1] / "examples" / "agent-traces.jsonl")


@pytest.fixture
def logged(runner: CliRunner, db: Path) -> Path:
    assert runner.invoke(main, ["ingest", SAMPLE, "--db", str(db)]).exit_code == 0
    return db


def _sql(db: Path, *statements: str) -> None:
    with duckdb.connect(str(db)) as con:
        for statement in statements:
            con.execute(statement)


def _verify(runner: CliRunner, db: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(main, ["verify", "--db", str(db), *args])
    return result.exit_code, result.output


def test_redefined_view_is_reported(runner: CliRunner, logged: Path) -> None:
    """Redefining the `exceptions` view to hide a trace fails verification, naming the view."""
    with duckdb.connect(str(logged)) as con:
        (sql,) = con.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = 'exceptions'"
        ).fetchone()
        hidden = sql.rstrip().rstrip(";") + " WHERE r.tool IS DISTINCT FROM 'refund_order'"
        con.execute(hidden.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))
        assert con.execute("SELECT count(*) FROM exceptions").fetchone() == (2,)
    code, out = _verify(runner, logged)
    assert code == 1
    assert "schema: exceptions: the view's definition differ" in out


def test_dropped_key_and_forged_twin_are_reported(runner: CliRunner, logged: Path) -> None:
    """A dropped primary key and a second row with a real id: the schema and the twin show."""
    with duckdb.connect(str(logged)) as con:
        (victim,) = con.execute(
            "SELECT exception_id FROM exception_rows WHERE tool = 'refund_order'"
        ).fetchone()
    _sql(
        logged,
        "CREATE TABLE copy AS SELECT * FROM exception_rows",
        "DROP VIEW exceptions",
        "DROP VIEW exception_patterns",
        "DROP TABLE exception_rows",
        "CREATE TABLE exception_rows AS SELECT * FROM copy",
        "DROP TABLE copy",
        f"INSERT INTO exception_rows SELECT * REPLACE ('all fine' AS summary) "
        f"FROM exception_rows WHERE exception_id = '{victim}'",
    )
    code, out = _verify(runner, logged)
    assert code == 1
    assert f"duplicate: exception_rows: 2 rows share the key {victim}" in out
    assert "schema: exception_rows: the table's constraints or columns differ" in out
    assert "schema: exceptions: the view is missing" in out
    _sql(logged, "CREATE VIEW exceptions AS SELECT *, 'open' AS status FROM exception_rows")
    shown = runner.invoke(main, ["show", victim[:12], "--db", str(logged)])
    assert shown.exit_code == 1
    assert f"2 rows share the exception id {victim}: the log was edited" in shown.output


def test_intact_log_has_no_schema_findings(runner: CliRunner, logged: Path) -> None:
    """An untouched log still verifies with the schema checks on."""
    code, out = _verify(runner, logged)
    assert (code, out.split(",")[0]) == (0, "ok: 12 chained rows")


def test_checkpoint_needs_the_public_key(runner: CliRunner, logged: Path, tmp_path: Path) -> None:
    """Without --public-key any note would pass, so --checkpoint alone is refused."""
    note = tmp_path / "head.note"
    note.write_text(runner.invoke(main, ["checkpoint", "--db", str(logged)]).stdout)
    code, out = _verify(runner, logged, "--checkpoint", str(note))
    assert code == 1
    assert out.startswith("Error: --checkpoint needs --public-key")
