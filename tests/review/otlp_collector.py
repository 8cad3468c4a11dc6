"""A small OTLP collector for tests: logs and metrics over gRPC and over HTTP/protobuf."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc


class Received:
    """Everything the collector got, decoded; read it from the test thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.logs: list[logs_service_pb2.ExportLogsServiceRequest] = []
        self.metrics: list[metrics_service_pb2.ExportMetricsServiceRequest] = []

    def log_records(self) -> Iterator[Any]:
        with self.lock:
            requests = list(self.logs)
        for request in requests:
            for resource in request.resource_logs:
                for scope in resource.scope_logs:
                    yield from scope.log_records

    def metric_points(self, name: str) -> list[Any]:
        with self.lock:
            requests = list(self.metrics)
        points = []
        for request in requests:
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name == name:
                            kind = metric.WhichOneof("data")
                            points.extend(getattr(metric, kind).data_points)
        return points


class _Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(self, request: Any, context: Any) -> Any:
        with self.received.lock:
            self.received.logs.append(request)
        return logs_service_pb2.ExportLogsServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(self, request: Any, context: Any) -> Any:
        with self.received.lock:
            self.received.metrics.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


def grpc_collector() -> tuple[grpc.Server, int, Received]:
    """A started gRPC OTLP server on a free loopback port."""
    received = Received()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Logs(received), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(received), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port, received


class _HttpHandler(BaseHTTPRequestHandler):
    server: HttpCollector

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        received = self.server.received
        with received.lock:
            if self.path == "/v1/logs":
                received.logs.append(logs_service_pb2.ExportLogsServiceRequest.FromString(body))
                answer = logs_service_pb2.ExportLogsServiceResponse()
            else:
                request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
                received.metrics.append(request)
                answer = metrics_service_pb2.ExportMetricsServiceResponse()
        data = answer.SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class HttpCollector(ThreadingHTTPServer):
    """OTLP/HTTP protobuf on /v1/logs and /v1/metrics."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HttpHandler)
        self.received = Received()
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"
