"""OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` on grpcio.

The method is registered with no request deserializer, so the handler gets
the serialized request (already decompressed by grpcio) and can spool it
as-is after validating it. Refusals carry the status codes the exporters
expect: INVALID_ARGUMENT for bad data, UNAUTHENTICATED for a wrong token, and
UNAVAILABLE with a `google.rpc.RetryInfo` both in `grpc-status-details-bin`
(read by the Go Collector) and in `google.rpc.retryinfo-bin` (read by the
Python exporter) when the backlog is full.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from spansift.receiver._intake import BusyError, Intake
from spansift.receiver._spool import KIND_PROTOBUF
from spansift.receiver._wire import (
    BadBodyError,
    retry_info,
    success_body,
    token_ok,
    unavailable_status,
)

SERVICE = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
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


def _handler(intake: Intake, token: str | None) -> Any:
    def export(request: bytes, context: Any) -> bytes:
        if token:
            metadata = dict(context.invocation_metadata())
            if not token_ok(token, metadata.get("authorization")):
                intake.counters.rejected("unauthenticated")
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            intake.submit(KIND_PROTOBUF, request)
        except BadBodyError as exc:
            intake.counters.rejected("bad_request")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except BusyError as exc:
            intake.counters.rejected(exc.reason)
            _abort_busy(context, exc)
        return success_body("application/x-protobuf")

    method = grpc.unary_unary_rpc_method_handler(export)
    return grpc.method_handlers_generic_handler(SERVICE, {"Export": method})


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
    server = grpc.server(
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spansift-grpc"),
        handlers=(_handler(intake, token),),
        options=(
            ("grpc.max_receive_message_length", receive),
            ("grpc.so_reuseport", 0),
        ),
        maximum_concurrent_rpcs=workers * 4,
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
