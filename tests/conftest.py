"""Shared fixtures: paths to the test data and a CLI runner."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"
ROOT = TESTS.parent


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "log.duckdb"


Holder = subprocess.Popen[str]


@pytest.fixture
def hold() -> Iterator[Callable[[Path], Holder]]:
    """Start a process holding a DuckDB file open (as an app's processor does) until the test
    ends or its stdin is closed."""
    holders: list[Holder] = []

    def start(db: Path) -> Holder:
        proc = subprocess.Popen(
            [sys.executable, "-c",
             "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
             "sys.stdin.read(); con.close()", str(db)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        holders.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        return proc

    yield start
    for proc in holders:
        assert proc.stdin is not None and proc.stdout is not None
        if not proc.stdin.closed:
            proc.stdin.close()
        proc.wait(10)
        proc.stdout.close()
