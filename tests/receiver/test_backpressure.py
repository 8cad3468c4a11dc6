"""A full backlog answers 503 + Retry-After and UNAVAILABLE + RetryInfo, never 500 or loss."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from receiver_helpers import (
    EXPORT,
    PB,
    Server,
    count_exceptions,
    post,
    protobuf_body,
    tool_error_spans,
    trace_ids,
    wait_for,
)


def test_full_backlog_pushes_back_on_both_protocols(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    """With the worker stalled and a backlog bound of 1, the next request is refused retryably."""
    pause = tmp_path / "pause"
    pause.touch()
    server = make_server("--test-pause-file", str(pause), "--max-backlog-requests", "1")
    url = f"{server.url}/v1/traces"
    first = tool_error_spans(1, "bp1")
    assert post(url, protobuf_body(first), PB)[0] == 200

    second = tool_error_spans(1, "bp2")
    status, headers, body = post(url, protobuf_body(second), PB)
    assert status == 503
    assert headers["Retry-After"] == "1"
    assert "backlog full" in status_pb2.Status.FromString(body).message

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        call = channel.unary_unary(EXPORT)
        with pytest.raises(grpc.RpcError) as info:
            call(protobuf_body(second), timeout=10)
    error = info.value
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    trailers = dict(error.trailing_metadata())  # type: ignore[attr-defined]
    retry = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
    assert retry.retry_delay.seconds == 1
    details = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert details.code == grpc.StatusCode.UNAVAILABLE.value[0]
    unpacked = error_details_pb2.RetryInfo()
    assert details.details[0].Unpack(unpacked)
    assert unpacked.retry_delay.seconds == 1

    pause.unlink()
    wait_for(lambda: count_exceptions(server, trace_ids(first)) == 1, what="the backlog to drain")
    assert post(url, protobuf_body(second), PB)[0] == 200
    wait_for(lambda: count_exceptions(server, trace_ids(second)) == 1, what="the retried request")
