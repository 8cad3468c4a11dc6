"""The `spansift` command line, run as a user runs it, against real DuckDB files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from spansift.cli import main

ROOT = Path(__file__).parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


SAMPLE = ROOT / "examples" / "agent-traces.jsonl"
OTLP = FIXTURES / "otlp"


def _ingest(runner: CliRunner, db: Path, *paths: Path) -> tuple[int, str, str]:
    result = runner.invoke(main, ["ingest", *map(str, paths), "--db", str(db)])
    return result.exit_code, result.stdout, result.stderr


def test_ingest_sample_reports_spans_and_exceptions(runner: CliRunner, db: Path) -> None:
    """Ingesting the README sample prints one summary line and finds its three exceptions."""
    code, out, _ = _ingest(runner, db, SAMPLE)
    assert code == 0
    assert out == (
        f"ingested 1 file: 10 spans read, 3 exceptions found (3 new), 0 inputs rejected -> {db}\n"
    )


def test_ingesting_twice_adds_no_rows(runner: CliRunner, db: Path) -> None:
    """The second ingest of the same file finds the same exceptions but writes none."""
    _ingest(runner, db, SAMPLE)
    code, out, _ = _ingest(runner, db, SAMPLE)
    assert code == 0
    assert "3 exceptions found (0 new)" in out
    result = runner.invoke(main, ["query", "SELECT count(*) AS n FROM exceptions", "--db", str(db)])
    assert result.stdout == "n\n-\n3\n"


def test_ls_shows_the_short_view_newest_first(runner: CliRunner, db: Path) -> None:
    """`ls` lists one line per exception, newest first, with type and subject."""
    _ingest(runner, db, SAMPLE)
    result = runner.invoke(main, ["ls", "--db", str(db), "--format", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [(r["type"], r["subject"]) for r in rows] == [
        ("tool_error", "search_docs"),
        ("unknown_tool", "lookup_customer_ssn"),
        ("tool_error", "refund_order"),
    ]
    assert {r["workflow"] for r in rows} == {"support"}
    assert {r["status"] for r in rows} == {"open"}


def test_ls_filters_by_type_and_formats_csv(runner: CliRunner, db: Path) -> None:
    """`--type` narrows the list and `--format csv` writes a header and rows."""
    _ingest(runner, db, SAMPLE)
    result = runner.invoke(
        main, ["ls", "--db", str(db), "--type", "unknown_tool", "--format", "csv"]
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "id,when,workflow,type,severity,subject,summary,owner,status"
    assert len(lines) == 2
    assert ",unknown_tool," in lines[1]


def test_ls_since_excludes_old_rows(runner: CliRunner, db: Path) -> None:
    """The sample is from 2025, so `--since 1d` shows nothing and a bad value is an error."""
    _ingest(runner, db, SAMPLE)
    result = runner.invoke(main, ["ls", "--db", str(db), "--since", "1d", "--format", "json"])
    assert (result.exit_code, result.stdout) == (0, "[]\n")
    result = runner.invoke(main, ["ls", "--db", str(db), "--since", "7 days"])
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: --since '7 days': use a duration back from now (30m, 24h, 7d, 2w) or a UTC date "
        "or time (2025-11-22T08:00)\n"
    )


def test_malformed_line_is_named_and_the_rest_ingested(runner: CliRunner, db: Path) -> None:
    """A cut-off JSONL line is reported with file and line; the other lines still count."""
    code, out, err = _ingest(runner, db, OTLP / "malformed_line.jsonl")
    assert code == 1
    assert "1 input rejected" in out
    assert err.startswith("rejected: ")
    assert "malformed_line.jsonl:2:" in err
    result = runner.invoke(main, ["query", "SELECT count(*) FROM exceptions", "--db", str(db)])
    assert result.exit_code == 0


def test_folder_ingest_reads_every_format(runner: CliRunner, db: Path, tmp_path: Path) -> None:
    """A folder with .json, .jsonl, .pb and .pb.gz of the same trace yields one set of rows."""
    folder = tmp_path / "otlp"
    folder.mkdir()
    for name in ("agent_trace.json", "agent_trace.jsonl", "agent_trace.pb", "agent_trace.pb.gz"):
        shutil.copy(OTLP / name, folder / name)
    code, out, _ = _ingest(runner, db, folder)
    assert code == 0
    assert out.startswith("ingested 4 files:")
    once = runner.invoke(main, ["query", "SELECT count(*) FROM exceptions", "--db", str(db)])
    single = tmp_path / "single.duckdb"
    _ingest(runner, single, OTLP / "agent_trace.pb")
    again = runner.invoke(main, ["query", "SELECT count(*) FROM exceptions", "--db", str(single)])
    assert once.stdout == again.stdout


def test_db_from_environment(runner: CliRunner, db: Path) -> None:
    """`SPANSIFT_DB` names the database when `--db` is not given."""
    result = runner.invoke(main, ["ingest", str(SAMPLE)], env={"SPANSIFT_DB": str(db)})
    assert result.exit_code == 0
    assert db.exists()


def test_reading_a_missing_database_is_one_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    """`ls` on a file that does not exist says how to create it and exits 1."""
    result = runner.invoke(main, ["ls", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no exception log at ")


def test_query_rejects_writes(runner: CliRunner, db: Path) -> None:
    """`query` opens the log read-only, so a DELETE fails and the rows stay."""
    _ingest(runner, db, SAMPLE)
    result = runner.invoke(main, ["query", "DELETE FROM exceptions", "--db", str(db)])
    assert result.exit_code == 1
    assert "query failed" in result.stderr


def test_stats_prints_totals_and_counts(runner: CliRunner, db: Path) -> None:
    """`stats` shows totals, counts per workflow and type, and evidence gaps."""
    _ingest(runner, db, SAMPLE)
    result = runner.invoke(main, ["stats", "--db", str(db)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[1] == "exceptions: 3 (3 open)"
    assert any(line.startswith("support   tool_error") for line in lines)
    assert "evidence gaps: 0 (0 spans never seen)" in lines


def test_bad_rules_folder_refuses_to_run(runner: CliRunner, db: Path, tmp_path: Path) -> None:
    """A broken rule file stops `ingest` before any data is read, naming file and line."""
    bad = tmp_path / "rules"
    bad.mkdir()
    (bad / "broken.yaml").write_text("spansift_rules: 1\nitems: [\n")
    result = runner.invoke(main, ["ingest", str(SAMPLE), "--db", str(db), "--rules", str(bad)])
    assert result.exit_code == 1
    assert "broken.yaml:" in result.stderr
    assert not db.exists()


def test_poison_values_are_rejected_per_line_and_good_files_still_count(
    runner: CliRunner, db: Path, tmp_path: Path
) -> None:
    """A lone surrogate or a time out of range rejects its line, named; nothing else is lost."""
    good = json.loads((OTLP / "malformed_line.jsonl").read_text().splitlines()[0])
    span = good["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    lines = [json.dumps(good)]
    for key, value in (("name", "bad \ud800 name"), ("endTimeUnixNano", str(10**22))):
        bad = json.loads(json.dumps(good))
        bad["resourceSpans"][0]["scopeSpans"][0]["spans"][0][key] = value
        lines.append(json.dumps(bad))
    poison = tmp_path / "poison.jsonl"
    poison.write_text("\n".join(lines) + "\n")
    code, out, err = _ingest(runner, db, poison, SAMPLE)
    assert code == 1
    assert "2 inputs rejected" in out
    assert "poison.jsonl:2:" in err and "surrogate" in err
    assert "poison.jsonl:3:" in err and "not a time" in err
    assert "Traceback" not in err
    sample_only = tmp_path / "sample.duckdb"
    assert _ingest(runner, sample_only, SAMPLE)[0] == 0
    count = "SELECT count(*) FROM exceptions"
    result = runner.invoke(main, ["query", count, "--db", str(sample_only), "--format", "csv"])
    both = runner.invoke(main, ["query", count, "--db", str(db), "--format", "csv"])
    assert span["traceId"]
    assert int(both.stdout.split()[-1]) >= int(result.stdout.split()[-1]) > 0
