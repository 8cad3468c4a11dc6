"""The request plumbing under every HTTP endpoint: deadlines, bodies and answers.

`BaseHandler` replaces the stdlib handler's socket file with a `DeadlineReader`,
so that the idle wait between requests, the request header and the body each
have a bound in time (see `_http_io`), and gives the endpoints one way to read a
body and one way to answer.
"""

from __future__ import annotations

import json
import ssl
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from io import BufferedReader
from typing import Any, Protocol

from spansift.receiver._http_io import (
    BodyTooLargeError,
    DeadlineReader,
    Framing,
    MalformedBodyError,
    RequestTimeoutError,
    discard_body,
    framing,
    read_body,
)
from spansift.receiver._wire import JSON, status_body

IDLE_TIMEOUT_S = 60.0
DISCARD_LIMIT = 64 << 20  # refused bodies up to this size are read, so the answer arrives


class Timeouts(Protocol):
    """What the handler needs of its server: the per-request time bounds, in seconds."""

    header_timeout_s: float
    body_timeout_s: float


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "spansift"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self._reader = DeadlineReader(self.connection, IDLE_TIMEOUT_S)
        stdlib_file, self.rfile = self.rfile, BufferedReader(self._reader, 1 << 16)
        stdlib_file.close()

    def handle_one_request(self) -> None:
        """Wait (idle bound) for a request to start, then give its header a deadline."""
        reader = self._reader
        reader.deadline = None
        try:
            started = self.rfile.peek(1)  # type: ignore[attr-defined]
        except ssl.SSLError:
            self.tls_refused()
            started = b""
        except OSError:
            started = b""
        if not started:
            self.close_connection = True
            return
        reader.deadline = time.monotonic() + self._timeouts().header_timeout_s
        try:
            super().handle_one_request()
        except RequestTimeoutError:
            self.close_connection = True  # the header never completed: nothing to answer

    def tls_refused(self) -> None:
        """A client failed the TLS handshake (spoke plain HTTP to a TLS port); a hook."""

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        self._for_writes()
        return parsed

    def _for_writes(self) -> None:
        """Give answers the idle bound: the last read left the socket with what remained
        of a request deadline, which may be a fraction of a second."""
        self.connection.settimeout(IDLE_TIMEOUT_S)

    def _timeouts(self) -> Timeouts:
        server: Timeouts = self.server  # type: ignore[assignment]
        return server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a receiver logs counters, not every request."""

    # -- bodies -------------------------------------------------------------------

    def _framing(self) -> Framing | None:
        """The body framing, or None after answering 400 for contradictory headers."""
        try:
            return framing(self.headers)
        except MalformedBodyError as exc:
            self.close_connection = True
            self._plain(HTTPStatus.BAD_REQUEST, str(exc))
            return None

    def _read_body(self, frame: Framing, limit: int) -> bytes:
        """The body within the body deadline; the `_http_io` errors propagate."""
        self._reader.deadline = time.monotonic() + self._timeouts().body_timeout_s
        try:
            return read_body(self.rfile, frame, limit, DISCARD_LIMIT)
        finally:
            self._for_writes()

    def _body_failed(self, exc: Exception, answer_413: Any) -> None:
        """Answer a body that could not be read (the connection is closed after it)."""
        self.close_connection = not (isinstance(exc, BodyTooLargeError) and exc.drained)
        if isinstance(exc, BodyTooLargeError):
            answer_413(str(exc))
        elif isinstance(exc, MalformedBodyError):
            self._plain(HTTPStatus.BAD_REQUEST, str(exc))
        elif isinstance(exc, RequestTimeoutError):
            self._plain(HTTPStatus.REQUEST_TIMEOUT, "the request body did not arrive in time")

    def _discard(self, frame: Framing | None) -> None:
        """Read and drop a refused body so the client sees our answer; close if we cannot."""
        if frame is None:
            self.close_connection = True
            return
        self._reader.deadline = time.monotonic() + self._timeouts().body_timeout_s
        if not discard_body(self.rfile, frame, DISCARD_LIMIT):
            self.close_connection = True
        self._for_writes()

    # -- answers ------------------------------------------------------------------

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
