"""`spansift ingest` reads regular files, folders and `-`; a FIFO or a device is refused at once."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "examples" / "agent-traces.jsonl"


def _run(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "spansift", "ingest", *args],
        input=stdin, capture_output=True, cwd=cwd, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_fifo_and_device_are_refused(tmp_path: Path, special: str) -> None:
    """A FIFO or /dev/zero gets one Error line and exit 1 instead of a read that never ends."""
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "traces.jsonl"
        os.mkfifo(path)
    result = _run(str(path), "--db", str(tmp_path / "log.duckdb"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"Error: {path} is not a regular file or a folder; ingest reads OTLP files, folders "
        "of them, or - for standard input\n"
    )
    assert not (tmp_path / "log.duckdb").exists()


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_dash_reads_standard_input(tmp_path: Path, compressed: bool) -> None:
    """`ingest -` reads OTLP JSON lines (plain or gzipped) from standard input."""
    data = SAMPLE.read_bytes()
    result = _run(
        "-", "--db", str(tmp_path / "log.duckdb"), cwd=tmp_path,
        stdin=gzip.compress(data) if compressed else data,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert b"10 spans read, 3 exceptions found (3 new), 0 inputs rejected" in result.stdout


def test_missing_path_is_one_error_line(tmp_path: Path) -> None:
    """A path that does not exist is named in one Error line, without a traceback."""
    result = _run("nope.jsonl", "--db", str(tmp_path / "log.duckdb"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.decode() == "Error: cannot read nope.jsonl: No such file or directory\n"
