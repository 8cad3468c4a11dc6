"""Conventions every command keeps: JSON documents and lines, ISO 8601 `Z` times, `-o/--out`,
tables that fit the terminal, checked filter values, dates in `--since/--until`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from spansift.cli import main

SAMPLE = Path(__file__).parents[1] / "examples" / "agent-traces.jsonl"
REFUND = "b2058d965a4a"


@pytest.fixture
def log(tmp_path: Path) -> Path:
    db = tmp_path / "log.duckdb"
    assert CliRunner().invoke(main, ["ingest", str(SAMPLE), "--db", str(db)]).exit_code == 0
    return db


def _run(log: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [*args, "--db", str(log)], env=env)


def test_json_is_one_document_and_jsonl_one_object_a_line(log: Path) -> None:
    """`--format json` parses as a whole; `jsonl` parses line by line; both hold the same rows."""
    whole = json.loads(_run(log, "ls", "--format", "json").stdout)
    lines = [json.loads(line) for line in _run(log, "ls", "--format", "jsonl").stdout.splitlines()]
    assert isinstance(whole, list)
    assert whole == lines
    assert len(whole) == 3


def test_json_columns_are_objects_and_times_are_iso_utc(log: Path) -> None:
    """`evidence` comes back as an object; timestamps are ISO 8601 with Z in JSON and CSV."""
    sql = "SELECT occurred_at, evidence FROM exceptions ORDER BY occurred_at LIMIT 1"
    (row,) = json.loads(_run(log, "query", sql, "--format", "json").stdout)
    assert row["occurred_at"] == "2025-11-22T08:27:40.950000Z"
    assert row["evidence"]["span"]["name"] == "execute_tool refund_order"
    csv_lines = _run(log, "query", sql.replace(", evidence", ""), "--format", "csv").stdout
    assert csv_lines.splitlines() == ["occurred_at", "2025-11-22T08:27:40.950000Z"]
    table = _run(log, "ls", "--type", "unknown_tool").stdout.splitlines()
    assert table[2].startswith("5ddf9043b964  2025-11-22T08:28:40Z  support")


@pytest.mark.parametrize(
    "args",
    [
        ("ls",), ("query", "SELECT 1 AS one"), ("stats",), ("show", REFUND), ("verify",),
        ("suggest", "--since", "2025-01-01", "--min", "1"),
        ("review", "--since", "2025-11-22", "--until", "2025-11-23"), ("checkpoint",),
        ("ls", "--format", "json"), ("stats", "--format", "json"),
        ("show", REFUND, "--format", "json"), ("verify", "--format", "json"),
        ("review", "--since", "2025-11-22", "--until", "2025-11-23", "--format", "json"),
    ],
    ids=" ".join,
)  # fmt: skip
def test_out_writes_what_stdout_would_show(args: tuple[str, ...], log: Path) -> None:
    """`-o FILE` writes exactly what the command prints without it, and says where."""
    shown = _run(log, *args)
    assert shown.exit_code == 0, shown.output
    out = log.parent / "out.txt"
    written = _run(log, *args, "-o", str(out))
    assert written.stdout == f"wrote {out}\n"
    assert out.read_text() == shown.stdout


@pytest.mark.parametrize("command", ["stats", "show", "verify", "suggest", "review"])
def test_reports_speak_json(command: str, log: Path) -> None:
    """stats, show, verify, suggest and review print one JSON document with `--format json`."""
    args = [command, REFUND] if command == "show" else [command]
    doc = json.loads(_run(log, *args, "--format", "json").stdout)
    expected = {
        "stats": {"exceptions", "by_workflow_type", "evidence_gaps", "receiver"},
        "show": {"exception", "offending_span", "spans"},
        "verify": {"ok", "entries", "head", "problems"},
        "review": {"since", "until", "totals", "tables", "signals"},
    }.get(command, set())
    assert expected <= set(doc if isinstance(doc, dict) else {})
    if command == "suggest":
        assert doc == []  # nothing in the last 30 days: the sample is from 2025


def test_table_fits_the_terminal_and_says_when_rows_are_cut(log: Path) -> None:
    """At 130 columns the summary gives way (at 150 in review's wider pattern table too);
    `--limit 2` of 3 rows says so."""
    result = _run(log, "ls", "--limit", "2", env={"COLUMNS": "130"})
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 130
    assert lines[2].endswith("...  platform  open")
    assert lines[-1] == "showing 2 of 3 (--limit N for more, --limit 0 for all)"
    assert len(json.loads(_run(log, "ls", "--limit", "0", "--format", "json").stdout)) == 3
    window = ("--since", "2025-11-22", "--until", "2025-11-23")
    review = _run(log, "review", *window, env={"COLUMNS": "150"}).stdout.splitlines()
    assert max(len(line) for line in review) <= 150
    assert any(line.endswith("...") for line in review)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ls", "--type", "tool_eror"),
         "Error: --type 'tool_eror' is not an exception type; did you mean 'tool_error'?"),
        (("ls", "--status", "opn"), "Error: --status 'opn' is not a status; did you mean 'open'?"),
        (("ack", "--type", "unknwn_tool", "--by", "me"),
         "Error: --type 'unknwn_tool' is not an exception type; did you mean 'unknown_tool'?"),
        (("ls", "--since", "2025-11-23", "--until", "2025-11-22"),
         "Error: --since 2025-11-23 is not before --until 2025-11-22; swap them"),
        (("ls", "--limit", "-1"),
         "Error: Invalid value for '--limit': -1 is not in the range x>=0."),
    ],
)  # fmt: skip
def test_bad_values_are_one_error_line(args: tuple[str, ...], message: str, log: Path) -> None:
    """Filter values are checked (with a did-you-mean), a negative limit is refused; exit 1."""
    result = _run(log, *args)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == message


def test_since_and_until_take_dates_and_times(log: Path) -> None:
    """A UTC time with Z and a bare date bound the window; durations still work."""
    window = ("--since", "2025-11-22T08:28:00Z", "--until", "2025-11-22T08:29")
    rows = json.loads(_run(log, "ls", *window, "--format", "json").stdout)
    assert [r["subject"] for r in rows] == ["lookup_customer_ssn"]
    decided = _run(log, "ack", "--by", "alice", *window)
    assert decided.stdout.splitlines() == ["acknowledged: 1 exception", "  5ddf9043b964"]
    assert json.loads(_run(log, "ls", "--since", "30d", "--format", "json").stdout) == []
