"""Request bodies as real clients send them: gzip members, trailing bytes, chunked framing."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Callable

from receiver_helpers import (
    PB,
    Server,
    count_exceptions,
    post,
    protobuf_body,
    tool_error_spans,
    trace_ids,
    wait_for,
)


def raw_request(server: Server, head: str, body: bytes = b"", timeout_s: float = 10) -> bytes:
    """Send bytes over one socket; returns everything the server answered until it closed."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=timeout_s) as sock:
        sock.sendall(head.encode() + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def chunked(data: bytes, size: int = 1000) -> bytes:
    """`data` in Transfer-Encoding: chunked framing, with a chunk extension and a trailer."""
    parts = [f"{len(data[i:i + size]):x};ext=1\r\n".encode() + data[i:i + size] + b"\r\n"
             for i in range(0, len(data), size)]  # fmt: skip
    return b"".join(parts) + b"0\r\nX-Trailer: yes\r\n\r\n"


def _head(path: str, content_type: str, extra: str = "") -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Transfer-Encoding: chunked\r\nConnection: close\r\n{extra}\r\n"
    )


def test_every_gzip_member_is_read(server: Server) -> None:
    """A body of two gzip members (two halves of a request) writes the spans of both."""
    first, second = tool_error_spans(1, "gz1"), tool_error_spans(1, "gz2")
    body = gzip.compress(protobuf_body(first)) + gzip.compress(protobuf_body(second))
    status, _, _ = post(
        f"{server.url}/v1/traces", body, {**PB, "Content-Encoding": "gzip"}
    )  # concatenated protobuf messages merge, so the two halves make one request
    assert status == 200
    ids = trace_ids(first) + trace_ids(second)
    wait_for(lambda: count_exceptions(server, ids) == 2, what="rows from both gzip members")


def test_gzip_followed_by_garbage_is_refused(server: Server) -> None:
    """Bytes after the last gzip member get 400, not a 200 for the part that was read."""
    spans = tool_error_spans(1, "gzjunk")
    body = gzip.compress(protobuf_body(spans)) + b"this is not gzip"
    status, _, answer = post(f"{server.url}/v1/traces", body, {**PB, "Content-Encoding": "gzip"})
    assert status == 400
    assert b"trailing data" in answer


def test_chunked_protobuf_and_json_bodies_are_accepted(server: Server) -> None:
    """Chunked bodies without Content-Length (as the JS exporters send) are read on both paths."""
    spans = tool_error_spans(3, "chunk")
    answer = raw_request(
        server, _head("/v1/traces", "application/x-protobuf"), chunked(protobuf_body(spans))
    )
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    from receiver_helpers import otlp_json

    doc = otlp_json("ab" * 16, "cd" * 8, tool="chunked_json")
    answer = raw_request(server, _head("/v1/traces", "application/json"), chunked(doc, 50))
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    wait_for(
        lambda: count_exceptions(server, [*trace_ids(spans), "ab" * 16]) == 4,
        what="rows from chunked bodies",
    )


def test_chunked_gzip_body_is_bounded_before_and_after_inflating(
    make_server: Callable[..., Server],
) -> None:
    """--max-body-mib holds for chunked bodies: raw size over it, and inflated size over it."""
    server = make_server("--max-body-mib", "1")
    head = _head("/v1/traces", "application/x-protobuf", "Content-Encoding: gzip\r\n")
    bomb = gzip.compress(b"\0" * (4 << 20))
    answer = raw_request(server, head, chunked(bomb, 4096))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    big = bytes(range(256)) * (5 << 12)  # 5 MiB that does not compress
    answer = raw_request(server, _head("/v1/traces", "application/x-protobuf"), chunked(big, 65536))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_broken_chunked_framing_gets_400(server: Server) -> None:
    """A bad chunk size, or Content-Length together with chunked, is a clear 400."""
    answer = raw_request(server, _head("/v1/traces", "application/x-protobuf"), b"zz\r\nabc\r\n")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"bad chunk size" in answer
    both = _head("/v1/traces", "application/x-protobuf", "Content-Length: 3\r\n")
    answer = raw_request(server, both, b"3\r\nabc\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


def test_chunked_query_body(server: Server) -> None:
    """The query endpoint reads a chunked JSON body too."""
    body = json.dumps({"sql": "SELECT 41 + 1 AS n"}).encode()
    answer = raw_request(server, _head("/spansift/query", "application/json"), chunked(body, 7))
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"42" in answer
