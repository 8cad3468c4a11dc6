"""`spansift serve --keep-traces`: a real receiver keeps the closed traces it judged, and
`rederive` over them finds the rows it wrote."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

from receiver_helpers import (
    Server,
    count_exceptions,
    post,
    protobuf_body,
    spansift,
    tool_error_spans,
    trace_ids,
    wait_for,
)

from spansift.store.kept import folder_of, kept_files


def test_serve_keeps_closed_traces_for_rederive(make_server: Callable[..., Server]) -> None:
    spans = tool_error_spans(3, "kept")
    server = make_server("--keep-traces", "--keep-traces-max", "64MiB")
    status, _, _ = post(
        f"{server.url}/v1/traces",
        protobuf_body(spans),
        {"Content-Type": "application/x-protobuf"},
    )
    assert status == 200
    traces = trace_ids(spans)
    wait_for(lambda: count_exceptions(server, traces) == 3, timeout_s=20, what="three rows")
    held = spansift("rederive", "--db", str(server.db), cwd=server.workdir, check=False)
    assert held.returncode == 1
    assert "is held by spansift serve" in held.stderr and "Traceback" not in held.stderr
    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    assert f"kept 6 spans of closed traces in {folder_of(server.db)}" in server.output()
    assert len(kept_files(folder_of(server.db))) == 1

    out = spansift(
        "rederive", "--db", str(server.db), "--since", "1d", "--dry-run", "--format", "json",
        cwd=server.workdir,
    )  # fmt: skip
    doc = json.loads(out.stdout)
    assert (doc["window_traces"], doc["spans"], doc["unchanged"], doc["changes"]) == (3, 6, 3, [])


def test_serve_without_the_option_keeps_nothing(make_server: Callable[..., Server]) -> None:
    server = make_server()
    spans = tool_error_spans(1, "off")
    post(f"{server.url}/v1/traces", protobuf_body(spans),
         {"Content-Type": "application/x-protobuf"})  # fmt: skip
    wait_for(lambda: count_exceptions(server, trace_ids(spans)) == 1, what="the row")
    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    assert not folder_of(server.db).exists()
    assert "kept" not in server.output()
