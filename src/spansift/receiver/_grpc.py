"""OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` on grpcio.

The method is registered with no request deserializer, so the handler gets
the serialized request (already decompressed by grpcio) and can spool it
as-is after validating it. Refusals carry the status codes the exporters
expect: INVALID_ARGUMENT for bad data, UNAUTHENTICATED for a wrong token, and
UNAVAILABLE with a `google.rpc.RetryInfo` both in `grpc-status-details-bin`
(read by the Go Collector) and in `google.rpc.retryinfo-bin` (read by the
Python exporter) when the backlog is full or too many calls are running.

grpcio's own `maximum_concurrent_rpcs` answers RESOURCE_EXHAUSTED without
RetryInfo, which the OTLP spec makes final, so exporters would drop the data.
The limit is kept here instead: grpcio asks the generic handler for a method
handler on its polling thread, before it queues the call for a worker, and the
handler counts calls queued or running in `_CountingPool`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NoReturn

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from spansift.receiver._intake import BusyError, Intake
from spansift.receiver._spool import KIND_PROTOBUF
from spansift.receiver._wire import (
    LOGS,
    METRICS,
    TRACES,
    BadBodyError,
    retry_info,
    success_body,
    token_ok,
    unavailable_status,
)

SERVICE = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
# Export methods and the signal each carries: logs join their spans, metrics are dropped.
METHODS = {
    f"/{SERVICE}/Export": TRACES,
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export": LOGS,
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export": METRICS,
}
MIN_RECEIVE_BYTES = 16 << 20


def _abort_busy(context: Any, busy: BusyError) -> NoReturn:
    context.set_trailing_metadata(
        (
            ("grpc-status-details-bin", unavailable_status(str(busy), busy.retry_after_s)),
            ("google.rpc.retryinfo-bin", retry_info(busy.retry_after_s)),
        )
    )
    context.abort(grpc.StatusCode.UNAVAILABLE, str(busy))
    raise AssertionError  # abort() raises


class _CountingPool(ThreadPoolExecutor):
    """A thread pool that knows how many calls are queued or running in it."""

    def __init__(self, workers: int) -> None:
        super().__init__(max_workers=workers, thread_name_prefix="spansift-grpc")
        self._lock = threading.Lock()
        self.pending = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            self.pending += 1

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.pending -= 1

        return super().submit(run)


class _Handlers(grpc.GenericRpcHandler):  # type: ignore[misc]
    """The Export method, or a quick UNAVAILABLE when `max_calls` are already pending."""

    def __init__(self, intake: Intake, token: str | None, pool: _CountingPool, max_calls: int):
        self._exports = {
            method: grpc.unary_unary_rpc_method_handler(_export(intake, token, signal))
            for method, signal in METHODS.items()
        }
        self._overloaded = grpc.unary_unary_rpc_method_handler(_overloaded(intake, max_calls))
        self._pool = pool
        self._max_calls = max_calls

    def service(self, handler_call_details: Any) -> Any:
        export = self._exports.get(handler_call_details.method)
        if export is None:
            return None
        if self._pool.pending >= self._max_calls:
            return self._overloaded
        return export


def _overloaded(intake: Intake, max_calls: int) -> Callable[[bytes, Any], bytes]:
    def refuse(_request: bytes, context: Any) -> bytes:
        message = f"more than {max_calls} calls in progress; retry later"
        busy = BusyError("calls", message, intake.limits.retry_after_s)
        intake.counters.rejected(busy.reason)
        _abort_busy(context, busy)

    return refuse


def _export(intake: Intake, token: str | None, signal: str) -> Callable[[bytes, Any], bytes]:
    def export(request: bytes, context: Any) -> bytes:
        if token:
            metadata = dict(context.invocation_metadata())
            if not token_ok(token, metadata.get("authorization")):
                intake.counters.rejected("unauthenticated")
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            intake.submit(KIND_PROTOBUF, request, signal)
        except BadBodyError as exc:
            intake.counters.rejected("bad_request")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except BusyError as exc:
            intake.counters.rejected(exc.reason)
            _abort_busy(context, exc)
        return success_body("application/x-protobuf")

    return export


def start_grpc(
    host: str,
    port: int,
    intake: Intake,
    token: str | None,
    *,
    workers: int,
    interceptors: Sequence[Any] = (),
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.Server, int]:
    """Start the gRPC server; returns it and the bound port (useful when `port` is 0).

    With `credentials` it listens with TLS. Raises `RuntimeError` if the address
    cannot be bound.
    """
    receive = max(MIN_RECEIVE_BYTES, intake.limits.max_body_bytes)
    pool = _CountingPool(workers)
    server = grpc.server(
        pool,
        handlers=(_Handlers(intake, token, pool, workers * 4),),
        options=(
            ("grpc.max_receive_message_length", receive),
            ("grpc.so_reuseport", 0),
        ),
        interceptors=interceptors,
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if credentials is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, credentials)
    except RuntimeError as exc:
        msg = f"cannot listen on {address} (gRPC): {exc}"
        raise RuntimeError(msg) from None
    if bound == 0:
        msg = f"cannot listen on {address} (gRPC): address in use or not available"
        raise RuntimeError(msg)
    server.start()
    return server, bound
