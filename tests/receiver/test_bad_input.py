"""Bad requests get the right status, and the same server keeps taking good data."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from google.rpc import status_pb2
from receiver_helpers import (
    EXPORT,
    JS,
    PB,
    Server,
    count_exceptions,
    otlp_json,
    post,
    protobuf_body,
    tool_error_spans,
    trace_ids,
    wait_for,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _grpc_export(server: Server, body: bytes, metadata: tuple[tuple[str, str], ...] = ()) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        call = channel.unary_unary(EXPORT)
        call(body, timeout=10, metadata=metadata)


def _still_serving(server: Server) -> None:
    spans = tool_error_spans(1, "after")
    status, _, _ = post(f"{server.url}/v1/traces", protobuf_body(spans), PB)
    assert status == 200
    wait_for(lambda: count_exceptions(server, trace_ids(spans)) == 1, what="the good row")


def test_bad_bodies_get_400_with_status_then_good_data_flows(
    make_server: Callable[..., Server],
) -> None:
    """Undecodable protobuf and JSON get 400 with a `google.rpc.Status` in the request's type."""
    server = make_server("--max-body-mib", "1")
    url = f"{server.url}/v1/traces"
    status, headers, body = post(url, b"\xff\xff\xff not protobuf", PB)
    assert status == 400
    assert headers["Content-Type"] == "application/x-protobuf"
    assert "not a valid OTLP protobuf" in status_pb2.Status.FromString(body).message
    status, headers, body = post(url, b'{"resourceSpans": [{"scopeSpans": 7}]}', JS)
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["code"] == 3
    bad_id = otlp_json("abc", "eee19b7ec3c1b171")
    assert post(url, bad_id, JS)[0] == 400
    assert post(url, b"x", {"Content-Type": "text/plain"})[0] == 415
    assert post(url, gzip.compress(b"x"), {**PB, "Content-Encoding": "br"})[0] == 415
    assert post(url, b"\x1f\x8b truncated gzip", {**PB, "Content-Encoding": "gzip"})[0] == 400
    _still_serving(server)


def test_oversized_and_compression_bomb_get_413(make_server: Callable[..., Server]) -> None:
    """A raw body over the limit and a gzip bomb that inflates past it both get 413."""
    server = make_server("--max-body-mib", "1")
    url = f"{server.url}/v1/traces"
    status, _, body = post(url, b"\0" * (2 << 20), PB)
    assert status == 413
    assert "over the limit" in status_pb2.Status.FromString(body).message
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)
    assert len(bomb) < 1 << 20
    status, _, body = post(url, bomb, {**PB, "Content-Encoding": "gzip"})
    assert status == 413
    assert "decompressed body" in status_pb2.Status.FromString(body).message
    _still_serving(server)


def test_wrong_path_and_method(server: Server) -> None:
    """Unknown paths answer 404 and wrong methods 405 with an Allow header."""
    assert post(f"{server.url}/v1/profiles", b"", PB)[0] == 404
    status, headers, _ = post(f"{server.url}/v1/traces", b"", method="GET")
    assert (status, headers["Allow"]) == (405, "POST")
    assert post(f"{server.url}/health", b"", method="GET")[0] == 200
    _still_serving(server)


def test_token_is_required_on_both_protocols(make_server: Callable[..., Server]) -> None:
    """With --token, requests without the bearer token get 401 / UNAUTHENTICATED."""
    server = make_server("--token", "s3cret")
    body = protobuf_body(tool_error_spans(1, "auth"))
    url = f"{server.url}/v1/traces"
    status, headers, _ = post(url, body, PB)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert post(url, body, {**PB, "Authorization": "Bearer wrong"})[0] == 401
    assert post(url, body, {**PB, "Authorization": "Bearer s3cret"})[0] == 200
    with pytest.raises(grpc.RpcError) as info:
        _grpc_export(server, body)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    _grpc_export(server, body, (("authorization", "Bearer s3cret"),))
    assert post(f"{server.url}/spansift/stats", b"", method="GET")[0] == 401


def test_grpc_bad_body_is_invalid_argument(server: Server) -> None:
    """An undecodable gRPC request gets INVALID_ARGUMENT and the server keeps serving."""
    with pytest.raises(grpc.RpcError) as info:
        _grpc_export(server, b"\xff\xff\xff")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _still_serving(server)


def test_query_endpoint_refuses_writes_and_file_access(server: Server) -> None:
    """The SQL endpoint runs one SELECT only and cannot read files."""
    url = f"{server.url}/spansift/query"
    for sql in (
        "DELETE FROM exceptions",
        "SELECT 1; SELECT 2",
        "SELECT * FROM read_text('/etc/hostname')",
        "COPY exceptions TO '/tmp/x.csv'",
    ):
        status, _, body = post(url, json.dumps({"sql": sql}).encode(), JS)
        assert status == 400, sql
        assert json.loads(body)["error"]
    good = {"sql": "SELECT ? + 1 AS n", "params": [41]}
    status, _, body = post(url, json.dumps(good).encode(), JS)
    assert status == 200
    assert json.loads(body)["rows"] == [[42]]


def test_bad_rules_file_refuses_to_start(tmp_path: Path) -> None:
    """A rules file with problems stops `serve` before it listens, printing each problem."""
    bad = FIXTURES / "receiver" / "bad_rules.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "spansift", "serve", "--db", str(tmp_path / "x.duckdb"),
         "--rules", str(bad), "--grpc-port", "0", "--http-port", "0"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "bad_rules.yaml:" in result.stderr
    assert "Error:" in result.stderr
    assert "ready" not in result.stdout
    assert not (tmp_path / "x.duckdb").exists()


def _with_string(text: str) -> bytes:
    """A one-span OTLP/JSON request whose tool name is `text` (escaped as JSON writes it)."""
    doc = json.loads(otlp_json("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b171"))
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["attributes"][1]["value"]["stringValue"] = text
    return json.dumps(doc).encode()


def _with_time(value: object) -> bytes:
    doc = json.loads(otlp_json("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b171"))
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["endTimeUnixNano"] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param(_with_string("get_\ud800order"), "lone UTF-16 surrogate", id="surrogate"),
        pytest.param(_with_time(str(10**21)), "not a time", id="after-2554"),
        pytest.param(_with_time(-1), "not a time", id="before-1970"),
    ],
)
def test_json_the_protobuf_path_would_refuse_gets_400(
    server: Server, body: bytes, says: str
) -> None:
    """Poison JSON is refused at the door, never acknowledged, and good data keeps flowing."""
    status, _, answer = post(f"{server.url}/v1/traces", body, JS)
    assert status == 400
    assert says in json.loads(answer)["message"]
    _still_serving(server)
