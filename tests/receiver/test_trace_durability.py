"""A half-assembled trace survives `kill -9`: its spooled spans are replayed on restart."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
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


CONTRACTS = Path(__file__).parents[1] / "fixtures" / "traces" / "spansift.yaml"


def _traces(spans: list[object]) -> list[list[object]]:
    """Spans grouped by trace, in the order the traces began."""
    out: dict[int, list[object]] = {}
    for span in spans:
        out.setdefault(span.context.trace_id, []).append(span)  # type: ignore[attr-defined]
    return list(out.values())


def _saved_runs(server: Server) -> int:
    return int(query_rows(server, "SELECT count(*) AS n FROM run_state")[0]["n"])


@pytest.mark.parametrize("stop", ["sigterm", "kill-9"])
def test_a_paused_run_survives_a_restart_and_its_resume_is_not_bypassed(
    make_server: Callable[..., Server], stop: str
) -> None:
    """Approval before a restart, the approved call after it: no exception at all.

    A clean stop empties the spool, so only the saved run remembers the approval.
    """
    pause, resume = _traces(list(make_traces.record(make_traces.approved_then_resumed, seed=7)))
    server = make_server("--contracts", str(CONTRACTS), "--run-window", "3")
    _send(server, pause)
    wait_for(lambda: _saved_runs(server) == 1, timeout_s=15, what="the open run to be saved")
    if stop == "kill-9":
        server.kill()
    else:
        server.signal(signal.SIGTERM)
        assert server.wait() == 0

    server.start()
    assert "restored 1 traces of sessions still open" in server.output()
    _send(server, resume)
    # The session closes once its window passes and is judged whole.
    wait_for(lambda: _saved_runs(server) == 0, timeout_s=20, what="the run to close")
    assert query_rows(server, "SELECT rule_id FROM exceptions") == []


def test_a_late_span_after_kill_9_reopens_the_whole_trace(
    make_server: Callable[..., Server],
) -> None:
    """A closed trace's spool is kept while it lingers: its late span is judged with the rest."""
    spans = list(make_traces.record(make_traces.loop, seed=43))
    tools, root = spans[:-1], spans[-1]
    server = make_server()
    _send(server, [*tools[:5], root])  # five calls: under the loop threshold of six
    wait_for(lambda: _processed(server) == 6, what="the first six spans")
    time.sleep(1.0)  # the trace closes (quiet period) and its hits are committed
    server.kill()

    server.start()
    _send(server, tools[5:])  # the sixth call arrives late
    sql = (
        "SELECT rule_id, evidence->>'incomplete' AS incomplete FROM exceptions "
        "WHERE rule_id = 'runaway_loop'"
    )
    rows = wait_for(lambda: query_rows(server, sql), timeout_s=15, what="the loop row")
    assert rows == [{"rule_id": "runaway_loop", "incomplete": None}]
