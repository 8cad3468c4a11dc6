"""JSON that is not OTLP is an error naming the file and the format it looks like.

Before, `{}`, Jaeger or Zipkin JSON and snake_case `resource_spans` decoded to zero
spans and `ingest` reported success.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from spansift.cli import main

NOT_OTLP = Path(__file__).parents[1] / "fixtures" / "not_otlp"
LOOKS_LIKE = {
    "jaeger.json": "this looks like Jaeger JSON (data[].spans with traceID)",
    "zipkin.json": "this looks like Zipkin JSON (a list of spans with traceId and id)",
    "empty.json": "an empty JSON object holds no resourceSpans",
    "snake_case.jsonl": "this uses the protobuf field name 'resource_spans'",
    "console_exporter.json": "this looks like the OpenTelemetry SDK's ConsoleSpanExporter output",
}


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in sorted(NOT_OTLP.iterdir())])
def test_ingest_names_the_file_and_the_format(path: Path, tmp_path: Path) -> None:
    """One `rejected:` line per file saying what it looks like; nothing read; exit 1."""
    db = tmp_path / "log.duckdb"
    result = CliRunner().invoke(main, ["ingest", str(path), "--db", str(db)])
    assert result.exit_code == 1
    assert result.stdout == (
        f"ingested 1 file: 0 spans read, 0 exceptions found (0 new), 1 input rejected -> {db}\n"
    )
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"rejected: {path}: {LOOKS_LIKE[path.name]}")
    assert "OTLP" in line


def test_a_jsonl_file_of_another_format_is_one_error(tmp_path: Path) -> None:
    """Three snake_case lines give one error for the file, not one per line."""
    result = CliRunner().invoke(
        main, ["ingest", str(NOT_OTLP / "snake_case.jsonl"), "--db", str(tmp_path / "x.duckdb")]
    )
    assert result.stderr.endswith("; the file was not read\n")
    assert result.stderr.count("rejected:") == 1


def test_an_otlp_file_with_no_spans_is_still_fine(tmp_path: Path) -> None:
    """`{"resourceSpans": []}` is an empty OTLP request, not a format error."""
    path = tmp_path / "none.json"
    path.write_text('{"resourceSpans": []}\n')
    result = CliRunner().invoke(main, ["ingest", str(path), "--db", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 0
    assert "0 inputs rejected" in result.stdout
