"""Reads through a running receiver: whole answers of any size, bounded memory, no silent cuts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from receiver_helpers import JS, Server, post, query_rows, spansift

from spansift.store import chain
from spansift.store.log import ExceptionLog
from spansift.store.rows import utc_now

BIG = 150_000


def test_large_query_arrives_whole(server: Server) -> None:
    """`spansift query` through the receiver returns all 150,000 rows, not the first 100,000."""
    rows = query_rows(server, f"SELECT range AS n FROM range({BIG})")
    assert len(rows) == BIG
    assert rows[-1] == {"n": BIG - 1}


def test_unstreamed_answer_over_the_limit_is_an_error(server: Server) -> None:
    """A one-document answer too large to send is refused with a message, never cut short."""
    body = json.dumps({"sql": f"SELECT range FROM range({BIG})"}).encode()
    status, _, answer = post(f"{server.url}/spansift/query", body, JS)
    assert status == 400
    assert "more than 100,000 rows" in json.loads(answer)["error"]


def test_query_memory_is_bounded(make_server: Callable[..., Server]) -> None:
    """DuckDB runs under the receiver's memory limit, not 80% of the machine's RAM."""
    server = make_server("--memory-limit-mib", "256")
    rows = query_rows(server, "SELECT current_setting('memory_limit') AS limit_")
    assert rows[0]["limit_"] in ("256.0 MiB", "244.1 MiB")


def _big_chained_log(db: Path, count: int) -> None:
    """A log with `count` chained suspension rows, written the way the writer chains them."""
    now = utc_now()
    rows = [(f"s{i:07d}", "agent", f"a{i}", "suspend", "tester", "load", now) for i in range(count)]
    entries = chain.extend((0, chain.GENESIS), [(chain.SUSPENSION, r[0], r) for r in rows])
    with ExceptionLog(db) as log:
        appender = log.con.appender("suspensions")
        appender.append_rows(rows)
        appender.flush()
        appender = log.con.appender("log_chain")
        appender.append_rows(
            [(e.seq, e.kind, e.row_id, e.prev_hash, e.row_hash, now) for e in entries]
        )
        appender.flush()


def test_verify_through_a_receiver_on_a_large_log(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    """verify through a running receiver reads all 110,000 rows of a large log: ok."""
    db = tmp_path / "big.duckdb"
    _big_chained_log(db, 110_000)
    server = make_server(db=db)
    out = spansift("verify", "--db", str(server.db), cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("ok: 110,000 chained rows")


def test_slow_reader_gets_the_whole_export(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    """A reader pausing longer than the header deadline still gets the whole Parquet export."""
    import socket
    import time

    db = tmp_path / "big.duckdb"
    _big_chained_log(db, 110_000)  # log_chain holds two random 64-digit hashes a row
    server = make_server("--header-timeout", "1", db=db)
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=30) as sock:
        sock.sendall(b"GET /spansift/export?table=log_chain HTTP/1.1\r\n")
        time.sleep(0.3)  # the header arrives in two reads, as over a slow link
        sock.sendall(b"Host: x\r\n\r\n")
        answer = sock.recv(4096)
        time.sleep(2.5)  # the server's socket buffers fill while we do not read
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(next(h for h in head.split(b"\r\n") if h.startswith(b"Content-Length"))
                     .split(b":")[1])  # fmt: skip
        while len(body) < length and (chunk := sock.recv(1 << 16)):
            body += chunk
    assert length > 8 << 20, "the answer must be larger than the socket buffers"
    assert len(body) == length
    assert body[:4] == b"PAR1"


def test_verify_through_a_receiver_reads_batch_entries(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    """Batch entries (one per write) verify through the receiver, and a changed row fails."""
    db = tmp_path / "batches.duckdb"
    now = utc_now()
    rows = [(f"s{i:05d}", "agent", f"a{i}", "suspend", "tester", "load", now) for i in range(3000)]
    with ExceptionLog(db) as log:
        assert log.append(chain.SUSPENSION, "suspensions", rows[:2000]) == 2000
        assert log.append(chain.SUSPENSION, "suspensions", rows[2000:]) == 1000
        log.con.execute("UPDATE suspensions SET reason = 'edited' WHERE suspension_id = 's02500'")
    server = make_server(db=db)
    out = spansift("verify", "--db", str(server.db), cwd=tmp_path, check=False)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "changed: suspension s02000 or another of its 1000 rows (chain entry 2)" in out.stdout
