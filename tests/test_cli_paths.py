"""Every command, given a missing path, an unwritable path or a database another process holds,
ends with one `Error:` line and exit status 1, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from spansift.cli import main

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "examples" / "agent-traces.jsonl"
EXCEPTION_ID = "b2058d965a4a"  # the failed refund in the sample

# {db} the log, {out} an output file, {dir} an output folder, {rules} a rules folder.
COMMANDS = {
    "ingest": ["ingest", str(SAMPLE), "--db", "{db}"],
    "ls": ["ls", "--db", "{db}"],
    "ls -o": ["ls", "--format", "json", "-o", "{out}", "--db", "{db}"],
    "query": ["query", "SELECT count(*) FROM exceptions", "--db", "{db}"],
    "stats": ["stats", "--db", "{db}"],
    "show": ["show", EXCEPTION_ID, "--db", "{db}"],
    "verify": ["verify", "--db", "{db}"],
    "checkpoint": ["checkpoint", "--db", "{db}"],
    "export parquet": ["export", "--parquet", "{dir}", "--db", "{db}"],
    "export evals": ["export", "evals", "--out", "{out}", "--db", "{db}"],
    "ack": ["ack", EXCEPTION_ID, "--by", "alice", "--db", "{db}"],
    "resolve": ["resolve", EXCEPTION_ID, "--by", "a", "--resolution", "r", "--db", "{db}"],
    "suppress": ["suppress", EXCEPTION_ID, "--by", "alice", "--for", "1d", "--db", "{db}"],
    "reopen": ["reopen", EXCEPTION_ID, "--by", "alice", "--db", "{db}"],
    "grant": ["grant", "--agent", "a", "--tool", "t", "--expires", "1h", "--by", "alice",
              "--justification", "j", "--db", "{db}"],
    "grants": ["grants", "--db", "{db}"],
    "suspend": ["suspend", "--agent", "a", "--by", "alice", "--reason", "r", "--db", "{db}"],
    "resume": ["resume", "--agent", "a", "--by", "alice", "--reason", "r", "--db", "{db}"],
    "review": ["review", "--out", "{out}", "--db", "{db}"],
    "suggest": ["suggest", "--db", "{db}"],
    "notify": ["notify", "--webhooks", "{hooks}", "--db", "{db}"],
    "serve": ["serve", "--grpc-port", "0", "--http-port", "0", "--db", "{db}"],
    "rules check": ["rules", "check", "{rules}"],
    "rules test": ["rules", "test", "{rules}"],
    "rules explain": ["rules", "explain", "tool_error", "--rules", "{rules}"],
    "checkpoint --new-key": ["checkpoint", "--new-key", "{out}"],
}  # fmt: skip
NO_DATABASE = {"rules check", "rules test", "rules explain", "checkpoint --new-key"}


def _run(args: list[str], paths: dict[str, Path]) -> Result:
    filled = [a.format(**{k: str(v) for k, v in paths.items()}) for a in args]
    return CliRunner().invoke(main, filled)


def _assert_clean_failure(result: Result, name: str) -> None:
    """Exit 1, no traceback, and exactly one `Error:` line, at the end of stderr."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{name}: {result.exception!r}"
    )
    assert "Traceback" not in result.output
    assert result.exit_code == 1, f"{name}: exit {result.exit_code}\n{result.output}"
    lines = result.stderr.strip().splitlines()
    assert lines, f"{name}: nothing on stderr"
    assert lines[-1].startswith("Error: "), f"{name}: {result.stderr}"
    assert sum(line.startswith("Error: ") for line in lines) == 1


def _hooks(tmp_path: Path) -> Path:
    hooks = tmp_path / "hooks.yaml"
    hooks.write_text("webhooks:\n  - name: ops\n    url: http://127.0.0.1:9/hook\n")
    return hooks


def _unwritable(tmp_path: Path) -> Path:
    """A folder no file can be created in: read-only, or (as root, who may write anywhere)
    a regular file standing where the folder should be."""
    if os.geteuid() == 0:
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        return blocker
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    return folder


@pytest.mark.parametrize("name", list(COMMANDS))
def test_missing_path(name: str, tmp_path: Path) -> None:
    """A --db, --out, folder or rules path in a folder that does not exist: one Error line."""
    gone = tmp_path / "missing" / "deeper"
    paths = {"db": gone / "log.duckdb", "out": gone / "out.txt", "dir": gone / "parquet",
             "rules": gone / "rules", "hooks": _hooks(tmp_path)}  # fmt: skip
    result = _run(COMMANDS[name], paths)
    if name == "checkpoint --new-key":
        # The key's folder is created, for its owner only, as ssh-keygen users expect.
        assert result.exit_code == 0, result.output
        assert (gone.stat().st_mode & 0o777) == 0o700
        return
    if name == "export parquet":
        paths["db"] = tmp_path / "none.duckdb"  # the folder is created; the log is what's missing
        result = _run(COMMANDS[name], paths)
    _assert_clean_failure(result, name)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_unwritable_path(name: str, tmp_path: Path) -> None:
    """A --db, --out, folder or key path nobody can write: one Error line naming it."""
    blocked = _unwritable(tmp_path)
    db = tmp_path / "log.duckdb"
    ingested = CliRunner().invoke(main, ["ingest", str(SAMPLE), "--db", str(db)])
    assert ingested.exit_code == 0
    writes_db = name in {"ingest", "serve"}
    paths = {"db": blocked / "log.duckdb" if writes_db else db, "out": blocked / "out.txt",
             "dir": blocked / "parquet", "rules": blocked / "rules",
             "hooks": _hooks(tmp_path)}  # fmt: skip
    result = _run(COMMANDS[name], paths)
    if name in {
        "ls",
        "query",
        "stats",
        "show",
        "verify",
        "checkpoint",
        "grants",
        "suggest",
        "ack",
        "resolve",
        "suppress",
        "reopen",
        "grant",
        "suspend",
        "resume",
        "notify",
    }:
        # These write no file of their own; an unwritable --db is one they cannot find.
        paths["db"] = blocked / "log.duckdb"
        result = _run(COMMANDS[name], paths)
    _assert_clean_failure(result, name)
    assert str(blocked) in result.output


@pytest.fixture
def held_db(tmp_path: Path, hold: Callable[[Path], object]) -> Path:
    """A log file another process holds open, as an app with the in-process processor does."""
    db = tmp_path / "held.duckdb"
    ingested = CliRunner().invoke(main, ["ingest", str(SAMPLE), "--db", str(db)])
    assert ingested.exit_code == 0
    hold(db)
    return db


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - NO_DATABASE))
def test_held_database(name: str, held_db: Path, tmp_path: Path) -> None:
    """A log another process holds: one Error line naming the holder's pid and --wait."""
    paths = {"db": held_db, "out": tmp_path / "out.txt", "dir": tmp_path / "parquet",
             "rules": tmp_path, "hooks": _hooks(tmp_path)}  # fmt: skip
    result = _run(COMMANDS[name], paths)
    _assert_clean_failure(result, name)
    assert "is held by another process (pid " in result.stderr
    assert "pass --wait to wait for it" in result.stderr
    assert not (tmp_path / "out.txt").exists()
