"""Hostile or mistaken local peers: review writes need a token, planted discovery files get none."""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from receiver_helpers import JS, Server, post, query_rows, spansift, wait_for


def _token(server: Server) -> str:
    path = Path(f"{server.db}.token")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return path.read_text().strip()


def test_review_writes_need_the_generated_token(server: Server) -> None:
    """Without --token, /spansift/act answers 401 to anyone lacking <db>.token; the CLI has it."""
    doc = {"op": "suspend", "action": "suspend", "target_kind": "agent", "target": "a1",
           "actor": "mallory", "reason": "no reason"}  # fmt: skip
    status, _, _ = post(f"{server.url}/spansift/act", json.dumps(doc).encode(), JS)
    assert status == 401
    wrong = {**JS, "Authorization": "Bearer guess"}
    assert post(f"{server.url}/spansift/act", json.dumps(doc).encode(), wrong)[0] == 401
    spansift("suspend", "--db", str(server.db), "--agent", "a1", "--by", "alice",
             "--reason", "testing", cwd=server.workdir)  # fmt: skip
    rows = query_rows(server, "SELECT actor FROM suspensions")
    assert rows == [{"actor": "alice"}]
    assert _token(server)


def _malformed(rng: random.Random) -> dict[str, Any]:
    junk = [None, "", "x", 0, -1, 1.5, True, [], [1], ["a"], {}, {"a": 1}, "\x00", "a" * 600]
    doc: dict[str, Any] = {"op": rng.choice(["decide", "grant", "suspend", "deliveries",
                                             "fingerprints", "nope", 7, None])}  # fmt: skip
    for key in rng.sample(["ids", "action", "actor", "filter", "rows", "rules", "agent", "tool",
                           "scope", "expires_s", "approvers", "target", "target_kind",
                           "reason", "follow_up"], rng.randint(0, 6)):  # fmt: skip
        doc[key] = rng.choice(junk)
    if rng.random() < 0.3:
        doc["rows"] = [[rng.choice(junk) for _ in range(rng.randint(0, 7))]]
    if rng.random() < 0.3:
        doc["rules"] = {"r": rng.choice(junk)}
    return doc


def test_malformed_review_documents_get_400(server: Server) -> None:
    """Malformed review writes are refused with 400 and a message, never a 500."""
    headers = {**JS, "Authorization": f"Bearer {_token(server)}"}
    rng = random.Random(13)
    statuses: dict[int, int] = {}
    for _ in range(400):
        body = json.dumps(_malformed(rng)).encode()
        status, _, answer = post(f"{server.url}/spansift/act", body, headers)
        statuses[status] = statuses.get(status, 0) + 1
        assert status in (200, 400), (status, body, answer)
    assert statuses[400] > 300


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str | None]

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        body = json.dumps({"status": "ok", "proof": "0" * 64}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def impostor() -> Iterator[tuple[str, list[str | None]]]:
    """A local HTTP listener that records the Authorization header of every request."""
    seen: list[str | None] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    httpd = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("foreign", [False, True], ids=["same-user", "other-user"])
def test_planted_discovery_file_gets_no_token(
    tmp_path: Path, impostor: tuple[str, list[str | None]], foreign: bool
) -> None:
    """A planted <db>.serve.json never receives the bearer token or a review write."""
    url, seen = impostor
    db = tmp_path / "log.duckdb"
    from spansift.store.log import ExceptionLog

    ExceptionLog(db).close()  # a log no receiver holds
    planted = Path(f"{db}.serve.json")
    doc = {"pid": os.getpid(), "url": url, "token_required": True, "key": "k" * 64}
    planted.write_text(json.dumps(doc))
    planted.chmod(0o600)
    if foreign:
        os.chown(planted, 65534, 65534)
    spansift("suspend", "--db", str(db), "--agent", "a2", "--by", "alice", "--reason", "r",
             "--token", "the-real-token", cwd=tmp_path)  # fmt: skip
    assert "Bearer the-real-token" not in seen
    assert all(header is None for header in seen)
    out = spansift("query", "--db", str(db), "--format", "jsonl",
                   "SELECT target FROM suspensions ORDER BY target", cwd=tmp_path)  # fmt: skip
    assert [json.loads(line)["target"] for line in out.stdout.splitlines()] == ["a2"]


def test_failed_second_serve_leaves_the_discovery_file(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    """A second serve on a held database fails and does not delete the running one's file."""
    server = make_server()
    discovery = Path(f"{server.db}.serve.json")
    assert stat.S_IMODE(discovery.stat().st_mode) == 0o600
    second = subprocess.run(
        [sys.executable, "-m", "spansift", "serve", "--db", str(server.db),
         "--grpc-port", "0", "--http-port", "0"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert second.returncode == 1
    assert second.stderr.startswith("Error: ")
    assert "is held by spansift serve" in second.stderr
    assert "Traceback" not in second.stderr
    assert discovery.exists()
    assert query_rows(server, "SELECT 1 AS one") == [{"one": 1}]


def test_files_beside_the_log_are_private(server: Server) -> None:
    """While serve runs, the database, its WAL, the token and the discovery file are 0600."""
    from receiver_helpers import count_exceptions, protobuf_body, tool_error_spans, trace_ids

    spans = tool_error_spans(1, "private")
    status, _, _ = post(
        f"{server.url}/v1/traces", protobuf_body(spans), {"Content-Type": "application/x-protobuf"}
    )
    assert status == 200
    wait_for(lambda: count_exceptions(server, trace_ids(spans)) == 1, what="the row")
    wal = Path(f"{server.db}.wal")
    assert wal.exists(), "DuckDB keeps its WAL until a checkpoint"
    for path in (server.db, wal, Path(f"{server.db}.token"), Path(f"{server.db}.serve.json")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(Path(f"{server.db}.spool").stat().st_mode) == 0o700
