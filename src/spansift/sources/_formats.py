"""Telling an OTLP/JSON trace document from the JSON that people hand us instead.

A document without `resourceSpans` decodes to zero spans, which looks like
success; `not_otlp_reason` says what it is instead (Jaeger or Zipkin JSON,
snake_case protobuf names, OTLP logs or metrics, the SDK console exporter) so
the user learns which exporter to switch to. It only reads the top levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OTLP_SHAPE = 'OTLP/JSON: {"resourceSpans": [...]} per line'
_FIX = f"spansift reads {OTLP_SHAPE}; export with an OTLP exporter or the Collector's file exporter"
_SIGNALS = {"resourceLogs": "OTLP logs", "resourceMetrics": "OTLP metrics"}


class NotOtlpError(ValueError):
    """A JSON document that is not an OTLP trace request at all (as opposed to a broken one)."""


def not_otlp_reason(doc: Any) -> str | None:
    """Why `doc` is not an OTLP trace request, naming the format it looks like; None if it is."""
    if isinstance(doc, Mapping):
        if "resourceSpans" in doc:
            return None
        return _object_reason(doc)
    if isinstance(doc, list):
        first = doc[0] if doc else None
        if isinstance(first, Mapping) and "traceId" in first and "id" in first:
            return f"this looks like Zipkin JSON (a list of spans with traceId and id); {_FIX}"
        return f"expected a JSON object with resourceSpans, got a list; {_FIX}"
    return None  # scalars: the decoder's own message says what it got


def _object_reason(doc: Mapping[str, Any]) -> str:
    if "resource_spans" in doc:
        return (
            "this uses the protobuf field name 'resource_spans'; OTLP/JSON spells fields in "
            "lowerCamelCase ('resourceSpans', 'scopeSpans', 'traceId')"
        )
    for key, signal in _SIGNALS.items():
        if key in doc:
            return f"this is {signal}, not traces; spansift reads trace requests ({OTLP_SHAPE})"
    if _is_jaeger(doc):
        return f"this looks like Jaeger JSON (data[].spans with traceID); {_FIX}"
    context = doc.get("context")
    if isinstance(context, Mapping) and "trace_id" in context:
        return (
            "this looks like the OpenTelemetry SDK's ConsoleSpanExporter output, which is not "
            f"OTLP; {_FIX}"
        )
    if not doc:
        return f"an empty JSON object holds no resourceSpans; {_FIX}"
    keys = ", ".join(sorted(str(k) for k in doc)[:5])
    return f"no resourceSpans (top-level keys: {keys}); {_FIX}"


def _is_jaeger(doc: Mapping[str, Any]) -> bool:
    """Jaeger's query API and UI download: {"data": [{"traceID", "spans", "processes"}]}."""
    traces = doc.get("data")
    if isinstance(traces, list) and traces and isinstance(traces[0], Mapping):
        return "traceID" in traces[0] or "spans" in traces[0]
    return "traceID" in doc and "spans" in doc
