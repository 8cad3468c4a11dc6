"""A half-assembled trace survives `kill -9`: its spooled spans are replayed on restart."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from receiver_helpers import Server, post, query_rows, wait_for

sys.path.insert(0, str(Path(__file__).parents[1] / "fixtures" / "traces"))
import make_traces

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _send(server: Server, spans: list[object]) -> None:
    body = encode_spans(spans).SerializeToString()  # type: ignore[arg-type]
    status, _, _ = post(f"{server.url}/v1/traces", body, PROTOBUF)
    assert status == 200


def _processed(server: Server) -> int:
    status, _, body = post(f"{server.url}/spansift/stats", b"", method="GET")
    assert status == 200
    return int(json.loads(body)["spans_processed"])


def test_open_trace_is_reassembled_after_kill_9(make_server: Callable[..., Server]) -> None:
    """Three calls before a SIGKILL and three after it still make one six-call loop."""
    spans = list(make_traces.record(make_traces.loop, seed=41))
    tools, root = spans[:-1], spans[-1]  # the root span ends last
    assert len(tools) == 6
    server = make_server()
    _send(server, tools[:3])
    wait_for(lambda: _processed(server) == 3, what="the three spans to be processed")
    server.kill()

    server.start()
    _send(server, tools[3:])
    _send(server, [root])
    sql = "SELECT exception_id, rule_id FROM exceptions WHERE rule_id = 'runaway_loop'"
    rows = wait_for(lambda: query_rows(server, sql), timeout_s=15, what="the loop row")
    assert len(rows) == 1
    exception_id = rows[0]["exception_id"]
    evidence = query_rows(
        server, f"SELECT count(*) AS n FROM evidence_spans WHERE exception_id = '{exception_id}'"
    )
    assert evidence == [{"n": 7}], "all seven spans, from before and after the kill"
