"""Exceptions out, in OTel: each new exception and decision as an OTLP log record, plus metrics.

Off by default; `spansift serve --otel-export`, `ExceptionLogProcessor(otel_export=True)` or
`SPANSIFT_OTEL_EXPORT=true` turn it on. Where the records go is the OpenTelemetry SDK's
business, configured by the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (or the
`_LOGS_` / `_METRICS_` variants), `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, else
`http/protobuf`), `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`,
`OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_BLRP_SCHEDULE_DELAY`.

- An exception row becomes a log record with event name `spansift.exception`, the row's
  severity (info INFO, low INFO, medium WARN, high ERROR, critical FATAL), its summary as
  body, its fields as `spansift.exception.*` attributes (never its evidence), and the trace
  context of the offending span.
- A decision becomes `spansift.decision` (about one row, in that row's trace context) or
  `spansift.pattern_decision`.
- Metrics: `spansift.exceptions` (counter by type, workflow, severity),
  `spansift.exceptions.open` (gauge read from the log at each export) and
  `spansift.exception.time_to_acknowledge` (histogram, seconds from written to first ack).

Threading contract: `emit` is called on the writer's thread after a commit (see
`store.events`); it only hands records to the SDK's batch processor, whose thread exports.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from importlib import metadata
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from spansift.store.events import EXCEPTIONS, Written

ENV = "SPANSIFT_OTEL_EXPORT"
__version__ = metadata.version("spansift")  # the package's own import would be circular
SCOPE = "spansift"
_SEVERITY = {
    "info": SeverityNumber.INFO,
    "low": SeverityNumber.INFO,
    "medium": SeverityNumber.WARN,
    "high": SeverityNumber.ERROR,
    "critical": SeverityNumber.FATAL,
}
# (attribute name under spansift.exception., row column)
_ROW_KEYS = (
    ("id", "exception_id"), ("type", "exception_type"), ("severity", "severity"),
    ("rule_id", "rule_id"), ("workflow", "workflow"), ("step", "step"), ("agent", "agent"),
    ("tool", "tool"), ("boundary", "boundary"), ("owner", "owner"), ("status", "status"),
    ("follow_up", "follow_up"), ("summary", "summary"), ("occurred_at", "occurred_at"),
)  # fmt: skip
_DECISION_KEYS = tuple(
    (k, k)
    for k in (
        "decision_id", "exception_id", "fingerprint", "actor", "action", "status", "owner",
        "resolution", "follow_up", "note", "until_at", "suppressed_until",
    )
)  # fmt: skip
# exception_id -> (trace_id, span_id, detected_at); read from the log for decisions.
Lookup = Callable[[Sequence[str]], Mapping[str, tuple[str, str, datetime]]]
# Open rows as ((type, workflow, severity), count), read at each metric export.
OpenCounts = Callable[[], Iterable[tuple[tuple[str, str, str], int]]]


def enabled(flag: bool | None = None) -> bool:
    """The flag when given, else `SPANSIFT_OTEL_EXPORT` (true, 1, yes, on)."""
    if flag is not None:
        return flag
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _exporters() -> tuple[Any, Any]:
    """OTLP log and metric exporters for the protocol the standard variables choose."""
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    logs = os.environ.get("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", protocol)
    metrics = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", protocol)
    log_exporter = GrpcLogExporter() if logs == "grpc" else HttpLogExporter()
    metric_exporter = GrpcMetricExporter() if metrics == "grpc" else HttpMetricExporter()
    return log_exporter, metric_exporter


def _ns(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int((value - datetime(1970, 1, 1)).total_seconds() * 1e9)
    return None


def _context(trace_id: str | None, span_id: str | None) -> Any:
    """A context carrying the offending span's ids, so backends link the record to the trace."""
    if not trace_id or not span_id:
        return None
    span_context = trace.SpanContext(
        int(trace_id, 16), int(span_id, 16), is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )  # fmt: skip
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context))


def _attributes(
    prefix: str, row: Mapping[str, Any], keys: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, column in keys:
        value = row.get(column)
        if value is None or value == "":
            continue
        out[f"{prefix}.{name}"] = value.isoformat() if isinstance(value, datetime) else value
    return out


class OtelExport:
    """The log's OTel outlet: a LoggerProvider and a MeterProvider with OTLP exporters."""

    def __init__(self, lookup: Lookup, open_counts: OpenCounts) -> None:
        log_exporter, metric_exporter = _exporters()
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", SCOPE)})
        self._logs = LoggerProvider(resource=resource)
        self._logs.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
        self._logger = self._logs.get_logger(SCOPE, __version__)
        reader = PeriodicExportingMetricReader(metric_exporter)
        self._metrics = MeterProvider(metric_readers=[reader], resource=resource)
        meter = self._metrics.get_meter(SCOPE, __version__)
        self._count = meter.create_counter(
            "spansift.exceptions", unit="{exception}", description="Exceptions written"
        )
        self._ack = meter.create_histogram(
            "spansift.exception.time_to_acknowledge",
            unit="s",
            description="Seconds from an exception written to its acknowledgement",
        )
        self._open_counts = open_counts
        meter.create_observable_gauge(
            "spansift.exceptions.open",
            callbacks=[self._observe_open],
            unit="{exception}",
            description="Exceptions open or regressed",
        )
        self._lookup = lookup

    def listener(self, written: Written) -> None:
        """What `ExceptionLog.listeners` calls after each write."""
        if written.kind == EXCEPTIONS:
            self.emit(written.rows, ())
        elif written.kind in ("decision", "pattern_decision"):
            self.emit((), written.rows)

    def emit(
        self, rows: Sequence[Mapping[str, Any]], decisions: Sequence[Mapping[str, Any]]
    ) -> None:
        """Hand new exception rows and decision rows to the SDK (it batches and exports)."""
        for row in rows:
            severity = str(row.get("severity") or "")
            attributes = _attributes("spansift.exception", row, _ROW_KEYS)
            if row.get("controls"):
                attributes["spansift.exception.controls"] = list(row["controls"])
            self._logger.emit(
                timestamp=_ns(row.get("occurred_at")),
                observed_timestamp=_ns(row.get("detected_at")),
                context=_context(row.get("trace_id"), row.get("span_id")),
                severity_number=_SEVERITY.get(severity, SeverityNumber.WARN),
                severity_text=severity.upper() or None,
                body=row.get("summary"),
                attributes=attributes,
                event_name="spansift.exception",
            )
            self._count.add(
                1,
                {
                    "spansift.exception.type": str(row.get("exception_type") or ""),
                    "spansift.exception.workflow": str(row.get("workflow") or ""),
                    "spansift.exception.severity": severity,
                },
            )
        if decisions:
            self._decisions(decisions)

    def _decisions(self, decisions: Sequence[Mapping[str, Any]]) -> None:
        ids = [str(d["exception_id"]) for d in decisions if d.get("exception_id")]
        found = self._lookup(ids) if ids else {}
        for decision in decisions:
            about = found.get(str(decision.get("exception_id") or ""))
            event = (
                "spansift.decision" if decision.get("exception_id") else "spansift.pattern_decision"
            )
            self._logger.emit(
                timestamp=_ns(decision.get("decided_at")),
                context=_context(about[0], about[1]) if about else None,
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                body=f"{decision.get('action')} by {decision.get('actor')}",
                attributes=_attributes("spansift.decision", decision, _DECISION_KEYS),
                event_name=event,
            )
            if about and decision.get("action") == "ack":
                decided = decision.get("decided_at")
                if isinstance(decided, datetime):
                    self._ack.record(max((decided - about[2]).total_seconds(), 0.0))

    def _observe_open(self, _options: CallbackOptions) -> Iterable[Observation]:
        for (kind, workflow, severity), n in self._open_counts():
            yield Observation(
                n,
                {
                    "spansift.exception.type": kind,
                    "spansift.exception.workflow": workflow,
                    "spansift.exception.severity": severity,
                },
            )

    def shutdown(self) -> None:
        """Export what is buffered and stop (call before the log closes)."""
        self._logs.shutdown()
        self._metrics.shutdown()
