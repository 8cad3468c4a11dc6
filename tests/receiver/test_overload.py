"""Overload and slow peers get retryable answers, and never hold the receiver's slots for long."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
from google.rpc import error_details_pb2
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

from spansift.receiver._http import MAX_CONNECTIONS


@contextlib.contextmanager
def held_sockets(server: Server, count: int, first_bytes: bytes) -> Iterator[list[socket.socket]]:
    """`count` connections that send `first_bytes` and then nothing more."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
            sock.sendall(first_bytes)
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def _closed_by_server(sock: socket.socket, timeout_s: float) -> bytes | None:
    """What the server sent before closing the socket, or None if it kept it open."""
    sock.settimeout(timeout_s)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return data


def test_connections_over_the_cap_get_503_with_retry_after(
    make_server: Callable[..., Server],
) -> None:
    """With every slot held, a 1 MiB OTLP post is read and answered 503, and /health stays 200."""
    server = make_server("--header-timeout", "60")
    with held_sockets(server, MAX_CONNECTIONS, b"POST /v1/traces HTTP/1.1\r\n"):
        body = protobuf_body(tool_error_spans(1, "over"))
        padded = body.ljust(1 << 20, b"\0")  # 1 MiB: a body the old refusal never read
        status, headers, _ = wait_for(
            lambda: (r := post(f"{server.url}/v1/traces", padded, PB))[0] == 503 and r,
            what="503 while every slot is held",
        )
        assert status == 503
        assert headers["Retry-After"] == "1"
        status, _, answer = post(f"{server.url}/health", b"", method="GET")
        assert (status, json.loads(answer)["status"]) == (200, "ok")
    spans = tool_error_spans(1, "after")
    status, _, _ = wait_for(
        lambda: (r := post(f"{server.url}/v1/traces", protobuf_body(spans), PB))[0] == 200 and r,
        what="200 once the slots are free",
    )
    wait_for(lambda: count_exceptions(server, trace_ids(spans)) == 1, what="the row")
    stats = json.loads(post(f"{server.url}/spansift/stats", b"", method="GET")[2])
    assert stats["requests_rejected"]["connections"] >= 1
    assert "spool_backlog_requests" in stats


def test_slow_header_and_slow_body_are_cut_off(make_server: Callable[..., Server]) -> None:
    """A header or body that trickles in past its deadline loses its connection (408 for a body)."""
    server = make_server("--header-timeout", "1", "--body-timeout", "2")
    started = time.monotonic()
    with held_sockets(server, 1, b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n") as (header_sock,):
        for _ in range(3):  # keeps sending, slower than the deadline allows
            time.sleep(0.4)
            with contextlib.suppress(OSError):
                header_sock.sendall(b"X")
        assert _closed_by_server(header_sock, 5) is not None
    assert time.monotonic() - started < 5
    head = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
    with held_sockets(server, 1, head + b"Content-Length: 1000\r\n\r\n" + b"\0" * 10) as socks:
        answer = _closed_by_server(socks[0], 6)
        assert answer is not None
        assert answer.startswith(b"HTTP/1.1 408")


def test_slowloris_cannot_starve_exporters(make_server: Callable[..., Server]) -> None:
    """300 sockets trickling headers hold no slot past the header deadline; real posts get in."""
    server = make_server("--header-timeout", "1")
    spans = tool_error_spans(1, "loris")
    with held_sockets(server, 300, b"POST /v1/traces HTTP/1.1\r\n") as sockets:
        deadline = time.monotonic() + 15
        status = 0
        while time.monotonic() < deadline and status != 200:
            for sock in sockets:  # a byte each round, as a slowloris client does
                with contextlib.suppress(OSError):
                    sock.sendall(b"X")
            status, headers, _ = post(f"{server.url}/v1/traces", protobuf_body(spans), PB)
            assert status in (200, 503), status
            if status == 503:
                assert headers.get("Retry-After")
            time.sleep(0.2)
        assert status == 200
    wait_for(lambda: count_exceptions(server, trace_ids(spans)) == 1, what="the row")


def _export_codes(server: Server, bodies: list[bytes]) -> list[grpc.RpcError | None]:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        call = channel.unary_unary(EXPORT)

        def one(body: bytes) -> grpc.RpcError | None:
            try:
                call(body, timeout=30)
            except grpc.RpcError as exc:
                return exc
            return None

        with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
            return list(pool.map(one, bodies))


def test_grpc_over_the_call_limit_gets_unavailable_with_retry_info(
    make_server: Callable[..., Server],
) -> None:
    """Past the call limit a refusal is UNAVAILABLE with RetryInfo, never RESOURCE_EXHAUSTED."""
    server = make_server("--grpc-workers", "1")
    bodies = [protobuf_body(tool_error_spans(300, f"g{n}")) for n in range(24)]
    results = _export_codes(server, bodies)
    refused = [r for r in results if r is not None]
    assert refused, "24 large calls at once on one worker should pass the limit of 4"
    for error in refused:
        assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
        trailers = dict(error.trailing_metadata() or ())
        info = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert info.retry_delay.seconds >= 1
    assert len(refused) < len(bodies)
