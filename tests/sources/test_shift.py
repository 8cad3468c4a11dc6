"""`ingest --shift-to-now` moves JSON and protobuf input alike and keeps the exception ids."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from spansift.cli import main

OTLP = Path(__file__).parents[1] / "fixtures" / "otlp"


def _rows(db: Path) -> list[tuple[str, datetime]]:
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute("SELECT exception_id, occurred_at FROM exceptions ORDER BY 1")
        return [(str(i), t) for i, t in found.fetchall()]


@pytest.mark.parametrize("name", ["agent_trace.json", "agent_trace.pb", "agent_trace.pb.gz"])
def test_shifted_rows_end_now_with_the_same_ids(name: str, tmp_path: Path) -> None:
    """The newest exception lands within a minute of now; ids equal those of the plain ingest;
    the gaps between exceptions are kept."""
    runner = CliRunner()
    plain, moved = tmp_path / "plain.duckdb", tmp_path / "moved.duckdb"
    assert runner.invoke(main, ["ingest", str(OTLP / name), "--db", str(plain)]).exit_code == 0
    args = ["ingest", "--shift-to-now", str(OTLP / name), "--db", str(moved)]
    assert runner.invoke(main, args).exit_code == 0
    before, after = _rows(plain), _rows(moved)
    assert before
    assert [i for i, _ in before] == [i for i, _ in after]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert now - max(t for _, t in after) < timedelta(minutes=1)
    shifts = {a - b for (_, a), (_, b) in zip(after, before, strict=True)}
    assert len(shifts) == 1
