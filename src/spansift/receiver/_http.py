"""OTLP/HTTP on the stdlib `ThreadingHTTPServer`, plus the receiver's own endpoints.

    POST /v1/traces          OTLP, application/x-protobuf or application/json
    GET  /health             200 + JSON while serving
    GET  /spansift/stats     counters (token required if one is set)
    POST /spansift/query     {"sql": ..., "params": [...]} -> columns, types, rows
    GET  /spansift/export?table=NAME   a Parquet snapshot of one table
    POST /spansift/act       a review write (decision, grant, suspension), see spansift.review
    GET  /spansift/suspended?agent=A&workflow=W   {"suspended": bool} before an agent acts
    GET  /review, /review/api/*  the review page and its API (see `_review_http`)

The stdlib server costs no dependency and, per the baselines, carries about
38K spans/s of parse-and-walk work, above what the rules leave anyway. One
thread per connection; connections beyond `MAX_CONNECTIONS` are answered 503
and closed, and in-flight requests are bounded by the intake.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from google.rpc import code_pb2

from spansift.receiver import _review_http
from spansift.receiver._intake import BusyError, Intake
from spansift.receiver._query import QueryBusyError, QueryError, QueryService
from spansift.receiver._wire import (
    JSON,
    MEDIA_KINDS,
    BadBodyError,
    TooLargeError,
    UnsupportedError,
    decompress,
    media_type,
    status_body,
    success_body,
    token_ok,
)

MAX_CONNECTIONS = 256
IDLE_TIMEOUT_S = 60
DISCARD_LIMIT = 64 << 20  # refused bodies up to this size are read, so the answer arrives
_ROUTES = {
    "/v1/traces": "POST",
    "/health": "GET",
    "/spansift/stats": "GET",
    "/spansift/query": "POST",
    "/spansift/export": "GET",
    "/spansift/act": "POST",
    "/spansift/suspended": "GET",
}
# A review write: the request document in, a JSON answer out; ValueError means refused.
Act = Callable[[dict[str, Any]], dict[str, Any]]


class OtlpHttpServer(ThreadingHTTPServer):
    """The HTTP listener; `serve_forever` on one thread, a thread per connection."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        intake: Intake,
        queries: QueryService,
        stats: Callable[[], dict[str, Any]],
        token: str | None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        self.intake = intake
        self.queries = queries
        self.stats = stats
        self.token = token
        self.act: Act | None = None  # set by the receiver: review writes on the writer's lock
        self.suspended: Callable[[str | None, str | None], bool] = lambda _a, _w: False
        self.review: _review_http.ReviewPages | None = None  # set by the receiver
        self._connections = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._connections.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()


class _Handler(BaseHTTPRequestHandler):
    server: OtlpHttpServer
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    server_version = "spansift"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a receiver logs counters, not every request."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        if path == "/review" or path.startswith("/review/"):
            _review_http.handle(self.server.review, self, method)
            return
        allowed = _ROUTES.get(path)
        if allowed is None:
            self.close_connection = True  # the body, if any, is not read
            self._plain(HTTPStatus.NOT_FOUND, f"no such endpoint: {path}")
            return
        if method != allowed:
            self.close_connection = True
            self._plain(HTTPStatus.METHOD_NOT_ALLOWED, f"use {allowed}", {"Allow": allowed})
            return
        if path == "/health":
            self._json(
                HTTPStatus.OK, {"status": "stopping" if self.server.intake.stopping else "ok"}
            )
            return
        if not token_ok(self.server.token, self.headers.get("Authorization")):
            self._discard(self._length())
            self._plain(
                HTTPStatus.UNAUTHORIZED,
                "missing or wrong bearer token",
                {"WWW-Authenticate": 'Bearer realm="spansift"'},
            )
            return
        if path == "/v1/traces":
            self._traces()
        elif path == "/spansift/stats":
            self._json(HTTPStatus.OK, self.server.stats())
        elif path == "/spansift/query":
            self._query()
        elif path == "/spansift/act":
            self._act()
        elif path == "/spansift/suspended":
            query = parse_qs(urlsplit(self.path).query)
            agent = next(iter(query.get("agent") or ()), None)
            workflow = next(iter(query.get("workflow") or ()), None)
            self._json(
                HTTPStatus.OK,
                {"agent": agent, "workflow": workflow,
                 "suspended": self.server.suspended(agent, workflow)},
            )  # fmt: skip
        else:
            self._export()

    # -- OTLP ----------------------------------------------------------------

    def _traces(self) -> None:
        intake = self.server.intake
        counters = intake.counters
        limit = intake.limits.max_body_bytes
        try:
            media = media_type(self.headers.get("Content-Type"))
        except UnsupportedError as exc:
            counters.rejected("unsupported_media_type")
            self._discard(self._length())
            self._plain(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, str(exc))
            return
        length = self._length()
        if length is None:
            counters.rejected("no_length")
            self.close_connection = True
            self._status(media, HTTPStatus.LENGTH_REQUIRED, code_pb2.INVALID_ARGUMENT,
                         "send a Content-Length")  # fmt: skip
            return
        if length > limit:
            counters.rejected("too_large")
            self._discard(length)
            message = f"body of {length:,} bytes is over the limit of {limit:,} bytes"
            self._status(media, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, code_pb2.INVALID_ARGUMENT,
                         message)  # fmt: skip
            return
        busy = intake.busy()
        if busy is not None:
            self._discard(length)
            self._busy(media, busy)
            return
        raw = self.rfile.read(length)
        if len(raw) < length:
            self.close_connection = True
            return
        try:
            body = decompress(raw, self.headers.get("Content-Encoding"), limit)
            intake.submit(MEDIA_KINDS[media], body)
        except TooLargeError as exc:
            counters.rejected("too_large")
            self._status(media, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, code_pb2.INVALID_ARGUMENT,
                         str(exc))  # fmt: skip
        except UnsupportedError as exc:
            counters.rejected("unsupported_encoding")
            self._status(media, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, code_pb2.INVALID_ARGUMENT,
                         str(exc))  # fmt: skip
        except BadBodyError as exc:
            counters.rejected("bad_request")
            self._status(media, HTTPStatus.BAD_REQUEST, code_pb2.INVALID_ARGUMENT, str(exc),
                         bad_request=True)  # fmt: skip
        except BusyError as exc:
            self._busy(media, exc)
        else:
            self._send(HTTPStatus.OK, media, success_body(media))

    def _busy(self, media: str, busy: BusyError) -> None:
        self.server.intake.counters.rejected(busy.reason)
        self._status(media, HTTPStatus.SERVICE_UNAVAILABLE, code_pb2.UNAVAILABLE, str(busy),
                     headers={"Retry-After": str(busy.retry_after_s)})  # fmt: skip

    # -- spansift endpoints ------------------------------------------------------

    def _json_body(self, shape: str) -> dict[str, Any] | None:
        """The request's JSON object, or None after answering 400 (`shape` shows what to send)."""
        length = self._length()
        if length is None or length > 1 << 20:
            self.close_connection = True
            self._json(HTTPStatus.BAD_REQUEST, {"error": "send a JSON body under 1 MiB"})
            return None
        try:
            doc = json.loads(self.rfile.read(length))
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"send {shape}"})
            return None
        return doc

    def _query(self) -> None:
        shape = '{"sql": "...", "params": [...]}'
        doc = self._json_body(shape)
        if doc is None:
            return
        sql, params = doc.get("sql"), doc.get("params") or []
        if not isinstance(sql, str) or not isinstance(params, list):
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"send {shape}"})
            return
        try:
            result = self.server.queries.run(sql, params)
        except QueryBusyError:
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "busy"}, {"Retry-After": "1"})
        except QueryError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        else:
            self._json(HTTPStatus.OK, result)

    def _act(self) -> None:
        doc = self._json_body('{"op": "...", ...}')
        if doc is None:
            return
        act = self.server.act
        if act is None:
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "no writer"})
            return
        try:
            answer = act(doc)
        except ValueError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except Exception as exc:  # a failing write must answer, not drop the connection
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"write failed: {exc}"})
        else:
            self._json(HTTPStatus.OK, answer)

    def _export(self) -> None:
        table = (parse_qs(urlsplit(self.path).query).get("table") or [""])[0]
        try:
            path = self.server.queries.export(table)
        except QueryBusyError:
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "busy"}, {"Retry-After": "1"})
            return
        except QueryError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        try:
            size = path.stat().st_size
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/vnd.apache.parquet")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    self.wfile.write(chunk)
        finally:
            path.unlink(missing_ok=True)

    # -- plumbing --------------------------------------------------------------------

    def _length(self) -> int | None:
        if self.headers.get("Transfer-Encoding"):
            return None
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return None
        return length if length >= 0 else None

    def _discard(self, length: int | None) -> None:
        """Read and drop a refused body so the client sees our answer; close if it is huge."""
        if length is None or length > DISCARD_LIMIT:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                self.close_connection = True
                return
            length -= len(chunk)

    def _status(
        self,
        media: str,
        http_status: HTTPStatus,
        code: int,
        message: str,
        *,
        bad_request: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = status_body(media, code, message, bad_request=bad_request)
        self._send(http_status, media, body, headers)

    def _plain(
        self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self._send(status, "text/plain; charset=utf-8", message.encode() + b"\n", headers)

    def _json(self, status: HTTPStatus, doc: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, JSON, json.dumps(doc).encode(), headers)

    def _send(
        self,
        status: HTTPStatus,
        content_type: str,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
