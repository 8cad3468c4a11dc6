"""Long work: progress within a file, Ctrl-C during ingest, held databases, ports in use."""

from __future__ import annotations

import array
import fcntl
import os
import signal
import socket
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from spansift.ingest import ingest_paths
from spansift.rules import load_ruleset
from spansift.store.log import ExceptionLog

sys.path.insert(0, str(Path(__file__).parent / "receiver"))
from receiver_helpers import Server, spansift, wait_for

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "examples" / "agent-traces.jsonl"
LINES = SAMPLE.read_bytes().splitlines(keepends=True)
REFUND = next(line for line in LINES if b"refund_order" in line)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANSIFT_", "OTEL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_progress_moves_within_a_file(tmp_path: Path) -> None:
    """`on_progress` reports growing byte offsets while one file is read, ending at its size."""
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"".join(LINES) * 200)
    seen: list[int] = []
    with ExceptionLog(tmp_path / "log.duckdb") as log:
        ingest_paths([big], load_ruleset(), log, on_progress=lambda _p, n: seen.append(n))
    size = big.stat().st_size
    assert seen == sorted(seen)
    assert len({n for n in seen if 0 < n < size}) > 10
    assert seen[-1] == size


def _pipe_drained(fd: int) -> bool:
    pending = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, pending)
    return pending[0] == 0


def test_ctrl_c_during_ingest_commits_what_was_found_and_exits_130(tmp_path: Path) -> None:
    """The failed refund read before Ctrl-C is committed; stderr says so; exit status 130."""
    db = tmp_path / "log.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "spansift", "ingest", "-", "--db", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
    )  # fmt: skip
    writer = proc.stdin
    assert writer is not None
    writer.write(REFUND)
    writer.flush()
    wait_for(lambda: _pipe_drained(writer.fileno()), what="ingest to read the line")
    time.sleep(0.5)  # past start-up: the interrupt handler is in place once reading began
    proc.send_signal(signal.SIGINT)
    writer.write(LINES[0])  # one more request: ingest stops after it
    out, err = (b.decode() for b in proc.communicate(timeout=30))
    assert proc.returncode == 130, err
    assert out == ""
    assert err.startswith("interrupted in file 1: ")
    assert "new exceptions committed to" in err
    assert "Run the same command again to finish" in err
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute("SELECT tool FROM exceptions").fetchall()
    assert ("refund_order",) in found


def test_wait_waits_for_a_held_lock(
    tmp_path: Path, hold: Callable[[Path], subprocess.Popen[str]]
) -> None:
    """`ls --wait` says whom it waits for, then answers once the other process lets go."""
    db = tmp_path / "held.duckdb"
    spansift("ingest", str(SAMPLE), "--db", str(db), cwd=tmp_path)
    proc = hold(db)
    waiter = subprocess.Popen(
        [sys.executable, "-m", "spansift", "ls", "--wait", "--format", "csv", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip
    assert waiter.stderr is not None
    line = waiter.stderr.readline()
    assert line.startswith(f"waiting: {db} is held by another process (pid {proc.pid}")
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(10)
    out, _ = waiter.communicate(timeout=30)
    waiter.stderr.close()
    assert waiter.returncode == 0
    assert len(out.splitlines()) == 4  # header and the sample's three exceptions


def test_ingest_into_a_log_held_by_serve(tmp_path: Path) -> None:
    """Ingest names the receiver holding the log; with --via-serve the rows arrive through it."""
    server = Server(tmp_path / "log.duckdb", tmp_path).start()
    assert server.proc is not None
    pid = server.proc.pid
    try:
        refused = spansift("ingest", str(SAMPLE), "--db", str(server.db), cwd=tmp_path,
                           check=False)  # fmt: skip
        assert refused.returncode == 1
        assert refused.stderr == (
            f"Error: {server.db} is held by spansift serve (pid {pid}, "
            f"{server.url}); ingest through it (add --via-serve) or stop it\n"
        )
        sent = spansift("ingest", str(SAMPLE), "--db", str(server.db), "--via-serve",
                        cwd=tmp_path)  # fmt: skip
        assert sent.stdout.startswith(
            f"sent 1 file to spansift serve (pid {pid}, {server.url}): "
            "10 spans in 3 requests, 0 inputs rejected"
        )

        def rows() -> int:
            out = spansift("query", "--db", str(server.db), "--format", "csv",
                           "SELECT count(*) AS n FROM exceptions", cwd=tmp_path)  # fmt: skip
            return int(out.stdout.splitlines()[1])

        assert wait_for(lambda: rows() == 3, 20, "the sample's rows")
    finally:
        server.kill()


@pytest.mark.parametrize(("flag", "protocol"), [("--http-port", "OTLP/HTTP"),
                                                 ("--grpc-port", "OTLP/gRPC")])  # fmt: skip
def test_port_in_use_names_it_and_leaves_nothing_behind(
    flag: str, protocol: str, tmp_path: Path
) -> None:
    """A taken port: one line naming port, protocol and flag; no database or spool is left."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        other = "--grpc-port" if flag == "--http-port" else "--http-port"
        db = tmp_path / "new.duckdb"
        result = spansift("serve", "--db", str(db), flag, str(port), other, "0", cwd=tmp_path,
                          check=False)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: port {port} ({protocol}) on 127.0.0.1 is in use: stop what listens there, "
        f"or pass {flag} with another port (0 picks a free one)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert result.stdout == ""
