"""`serve -v`: one line per request on both protocols, and one per batch the worker wrote.

A request line is written when its answer is: protocol, peer, what was asked,
the status and the spans it carried. Exceptions are found later, when the worker
has read the spooled request, so they are reported per written batch. Each hook
wraps a part of the receiver without changing it: the HTTP handler class, a gRPC
interceptor, the intake (for span counts) and the counters (for batches).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from socketserver import BaseServer
from typing import Any, cast
from urllib.parse import urlsplit

import grpc

from spansift.receiver._intake import Intake
from spansift.receiver._stats import Counters
from spansift.receiver._wire import TRACES, Accepted

Log = Callable[[str], None]
# The spans of the request this thread is answering; set by the intake, read by the loggers.
_current = threading.local()


def _take_spans() -> str:
    spans = getattr(_current, "spans", None)
    _current.spans = None
    return f", {spans:,} spans" if spans is not None else ""


class LoggedIntake(Intake):
    """`Intake` that remembers, per thread, how many spans the request it accepted held."""

    def submit(self, kind: int, body: bytes, signal: str = TRACES) -> Accepted:
        accepted = super().submit(kind, body, signal)
        _current.spans = accepted.spans
        return accepted


class LoggedCounters(Counters):
    """`Counters` that also log each batch the worker wrote."""

    def __init__(self, log: Log) -> None:
        super().__init__()
        self._log = log

    def processed(self, records: int, spans: int, found: int, written: int) -> None:
        super().processed(records, spans, found, written)
        if records:
            self._log(
                f"wrote {records:,} request{'s' if records != 1 else ''} ({spans:,} spans): "
                f"{found:,} exceptions found, {written:,} new"
            )
        elif found:  # traces that closed while no request was waiting
            self._log(f"closed traces: {found:,} exceptions found, {written:,} new")


def log_http(server: BaseServer, log: Log) -> None:
    """Make `server`'s handler log every answer it sends."""
    base = cast(type, server.RequestHandlerClass)  # a class, though typed as a factory

    def log_request(handler: Any, code: Any = "-", size: Any = "-") -> None:
        host, port = handler.client_address[:2]
        path = urlsplit(handler.path).path
        log(f"http {host}:{port} {handler.command} {path} {int(code)}{_take_spans()}")

    server.RequestHandlerClass = type("LoggedHandler", (base,), {"log_request": log_request})


class GrpcLog(grpc.ServerInterceptor):  # type: ignore[misc]  # grpc ships no types
    """Logs every unary call's peer, method, final status and spans."""

    def __init__(self, log: Log) -> None:
        self._log = log

    def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        method = str(details.method).rsplit("/", 1)[-1]

        def logged(request: Any, context: Any) -> Any:
            _current.spans = None
            try:
                return inner(request, context)
            finally:
                code = context.code() or grpc.StatusCode.OK
                self._log(f"grpc {context.peer()} {method} {code.name}{_take_spans()}")

        return grpc.unary_unary_rpc_method_handler(
            logged,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
