"""OTLP/HTTP on the stdlib `ThreadingHTTPServer`, plus the receiver's own endpoints.

    POST /v1/traces          OTLP, application/x-protobuf or application/json
    POST /v1/logs            OTLP logs: records tied to a span join it as events
    POST /v1/metrics         OTLP metrics: checked and dropped (200), so default SDK setups work
    GET  /health             200 + JSON while serving
    GET  /spansift/stats     counters (token required if one is set)
    POST /spansift/query     {"sql", "params", "stream"} -> columns, types, rows (or NDJSON)
    GET  /spansift/export?table=NAME   a Parquet snapshot of one table
    POST /spansift/act       a review write (decision, grant, suspension), see spansift.review
    GET  /spansift/suspended?agent=A&workflow=W   {"suspended": bool} before an agent acts
    GET  /review, /review/api/*  the review page and its API (see `_review_http`)

The stdlib server costs no dependency and, per the baselines, carries about
38K spans/s of parse-and-walk work, above what the rules leave anyway. One
thread per connection, up to `MAX_CONNECTIONS`; the next `MAX_OVERFLOW`
connections still have their request read (within the same deadlines) and are
answered 503 + Retry-After, so exporters retry instead of seeing a broken pipe,
and `/health` is answered there too. Only beyond both is a connection refused
without reading it. In-flight OTLP requests are bounded by the intake.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from google.rpc import code_pb2

from spansift.receiver import _review_http
from spansift.receiver._http_io import BodyTooLargeError, MalformedBodyError, RequestTimeoutError
from spansift.receiver._http_spansift import Act, SpansiftEndpoints
from spansift.receiver._intake import BusyError, Intake
from spansift.receiver._query import QueryService
from spansift.receiver._wire import (
    LOGS,
    MEDIA_KINDS,
    METRICS,
    PROTOBUF,
    TRACES,
    BadBodyError,
    TooLargeError,
    UnsupportedError,
    decompress,
    media_type,
    success_body,
    token_ok,
)

MAX_CONNECTIONS = 256
MAX_OVERFLOW = 256  # connections over the cap that are still read and answered 503
# OTLP paths and the signal each carries: logs join their spans, metrics are dropped.
_SIGNALS = {"/v1/traces": TRACES, "/v1/logs": LOGS, "/v1/metrics": METRICS}
_ROUTES = {
    "/v1/traces": "POST",
    "/v1/logs": "POST",
    "/v1/metrics": "POST",
    "/health": "GET",
    "/spansift/stats": "GET",
    "/spansift/query": "POST",
    "/spansift/export": "GET",
    "/spansift/act": "POST",
    "/spansift/suspended": "GET",
}
_LAST_RESORT = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
)


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
        self.alive: Callable[[], bool] = lambda: True  # set by the receiver: the worker runs
        self.act_token: str | None = token  # review writes need it even when OTLP does not
        self.identity_key = ""  # per-start key of the discovery file, proven at /health
        self.header_timeout_s = intake.limits.header_timeout_s
        self.body_timeout_s = intake.limits.body_timeout_s
        self.review: _review_http.ReviewPages | None = None  # set by the receiver
        self._connections = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._overflow = threading.BoundedSemaphore(MAX_OVERFLOW)

    def process_request(self, request: Any, client_address: Any) -> None:
        if self._connections.acquire(blocking=False):
            super().process_request(request, client_address)
            return
        if self._overflow.acquire(blocking=False):
            thread = threading.Thread(
                target=self._overflow_thread, args=(request, client_address),
                name="spansift-http-overflow", daemon=True,
            )  # fmt: skip
            thread.start()
            return
        with contextlib.suppress(OSError):
            request.sendall(_LAST_RESORT)
        self.shutdown_request(request)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def _overflow_thread(self, request: Any, client_address: Any) -> None:
        try:
            _OverflowHandler(request, client_address, self)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._overflow.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A peer that vanished mid-request is routine for a receiver, not a traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(SpansiftEndpoints):
    server: OtlpHttpServer
    overloaded = False  # the overflow handler answers everything but /health with 503

    def tls_refused(self) -> None:
        self.server.intake.counters.rejected("tls")

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
        if self.overloaded:
            self.close_connection = True  # one answer, then the overflow slot is free again
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
            self._health()
            return
        if self.overloaded:
            self._overloaded(path)
            return
        if not token_ok(self.server.token, self.headers.get("Authorization")):
            self.server.intake.counters.rejected("unauthenticated")  # as gRPC counts them
            self._discard(self._framing())
            self._plain(
                HTTPStatus.UNAUTHORIZED,
                "missing or wrong bearer token",
                {"WWW-Authenticate": 'Bearer realm="spansift"'},
            )
            return
        if path in _SIGNALS:
            self._otlp(_SIGNALS[path])
        elif path == "/spansift/stats":
            self._json(HTTPStatus.OK, self.server.stats())
        elif path == "/spansift/query":
            self._query()
        elif path == "/spansift/act":
            self._act()
        elif path == "/spansift/suspended":
            self._suspended()
        else:
            self._export()

    def _overloaded(self, path: str) -> None:
        """Every connection slot is taken: read the request, then ask the client to retry."""
        self.close_connection = True
        self._discard(self._framing())
        self.server.intake.counters.rejected("connections")
        message = f"more than {MAX_CONNECTIONS} connections; retry later"
        retry = {"Retry-After": str(self.server.intake.limits.retry_after_s)}
        if path in _SIGNALS:
            try:
                media = media_type(self.headers.get("Content-Type"))
            except UnsupportedError:
                media = PROTOBUF
            self._status(media, HTTPStatus.SERVICE_UNAVAILABLE, code_pb2.UNAVAILABLE, message,
                         headers=retry)  # fmt: skip
        else:
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": message}, retry)

    # -- OTLP ----------------------------------------------------------------

    def _otlp(self, signal: str) -> None:
        intake = self.server.intake
        counters = intake.counters
        limit = intake.limits.max_body_bytes
        frame = self._framing()
        if frame is None:
            counters.rejected("bad_request")
            return
        try:
            media = media_type(self.headers.get("Content-Type"))
        except UnsupportedError as exc:
            counters.rejected("unsupported_media_type")
            self._discard(frame)
            self._plain(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, str(exc))
            return
        if not frame.chunked and frame.length is None:
            counters.rejected("no_length")
            self.close_connection = True
            self._status(media, HTTPStatus.LENGTH_REQUIRED, code_pb2.INVALID_ARGUMENT,
                         "send a Content-Length or Transfer-Encoding: chunked")  # fmt: skip
            return

        def too_large(message: str) -> None:
            counters.rejected("too_large")
            self._status(media, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, code_pb2.INVALID_ARGUMENT,
                         message)  # fmt: skip

        if frame.length is not None and frame.length > limit:
            self._discard(frame)
            too_large(f"body of {frame.length:,} bytes is over the limit of {limit:,} bytes")
            return
        busy = intake.busy()
        if busy is not None:
            self._discard(frame)
            self._busy(media, busy)
            return
        try:
            raw = self._read_body(frame, limit)
        except EOFError:
            self.close_connection = True  # the client went away mid-body
            return
        except (BodyTooLargeError, MalformedBodyError, RequestTimeoutError) as exc:
            if not isinstance(exc, BodyTooLargeError):
                counters.rejected("bad_request")
            self._body_failed(exc, too_large)
            return
        self._accept(media, raw, too_large, signal)

    def _accept(
        self, media: str, raw: bytes, too_large: Callable[[str], None], signal: str
    ) -> None:
        intake = self.server.intake
        counters = intake.counters
        try:
            limit = intake.limits.max_body_bytes
            body = decompress(raw, self.headers.get("Content-Encoding"), limit)
            intake.submit(MEDIA_KINDS[media], body, signal)
        except TooLargeError as exc:
            too_large(str(exc))
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


class _OverflowHandler(_Handler):
    overloaded = True
