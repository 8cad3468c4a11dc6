"""OTLP/JSON to `Span`, as the Collector's file exporter and OTLP/HTTP JSON write it.

OTLP/JSON differs from proto3 JSON: ids are hex (any case), enums are
integers, and int64 values come as decimal strings or bare numbers. That is why
this module reads the parsed document by hand instead of using
`google.protobuf.json_format`, which expects base64 ids and is many times
slower. Unknown fields are ignored, as the protocol requires.

Every structural problem raises `ValueError` whose message names the place,
e.g. `resourceSpans[0].scopeSpans[1].spans[3].traceId: not 32 hex digits`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from spansift.model import AttrValue, Event, Span, SpanKind, StatusCode
from spansift.sources._formats import NotOtlpError, not_otlp_reason

__all__ = ["json_error_reason", "load_json", "parse_json", "spans_from_json"]

_HEX = frozenset("0123456789abcdefABCDEF")
_KINDS = tuple(SpanKind)
_STATUSES = tuple(StatusCode)
# proto3 JSON writers may spell enums by name; accept that too.
_KIND_NAMES = {f"SPAN_KIND_{k.name}": k for k in SpanKind}
_STATUS_NAMES = {f"STATUS_CODE_{s.name}": s for s in StatusCode}
_FLOAT_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
# What the protobuf encoding can hold: times are fixed64 nanoseconds, ints are int64.
_MAX_TIME_NS = (1 << 64) - 1
_INT64 = (-(1 << 63), (1 << 63) - 1)
_SURROGATES = re.compile("[\ud800-\udfff]")


def parse_json(body: bytes) -> list[Span]:
    """Parse one OTLP/JSON `ExportTraceServiceRequest` body; `ValueError` if it is not one."""
    return spans_from_json(load_json(body))


def load_json(body: bytes) -> Any:
    """The parsed JSON document of a body; `ValueError` with a one-line reason if it is not."""
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(json_error_reason(exc)) from None
    except UnicodeDecodeError as exc:
        msg = f"not valid JSON: {exc.reason}"
        raise ValueError(msg) from None


def json_error_reason(exc: json.JSONDecodeError) -> str:
    """One line for a JSON syntax error: `not valid JSON: Expecting ',' delimiter (column 17)`."""
    return f"not valid JSON: {exc.msg} (column {exc.colno})"


def spans_from_json(doc: Mapping[str, Any]) -> list[Span]:
    """Every span of a parsed OTLP/JSON trace document.

    A document with no `resourceSpans` raises `NotOtlpError` (a `ValueError`) saying
    what it looks like instead: zero spans would otherwise pass for success.
    """
    reason = not_otlp_reason(doc)
    if reason is not None:
        raise NotOtlpError(reason)
    if not isinstance(doc, Mapping):
        msg = f"expected a JSON object with resourceSpans, got {_type(doc)}"
        raise ValueError(msg)
    out: list[Span] = []
    for i, rs_obj in enumerate(_list(doc, "resourceSpans", "resourceSpans")):
        where = f"resourceSpans[{i}]"
        rs = _object(rs_obj, where)
        resource_obj = rs.get("resource")
        resource: dict[str, AttrValue] = {}
        if resource_obj is not None:
            resource_obj = _object(resource_obj, f"{where}.resource")
            resource = _attributes(resource_obj.get("attributes"), f"{where}.resource.attributes")
        scope_key = "scopeSpans" if "scopeSpans" in rs else "instrumentationLibrarySpans"
        for j, ss_obj in enumerate(_list(rs, scope_key, f"{where}.{scope_key}")):
            swhere = f"{where}.{scope_key}[{j}]"
            ss = _object(ss_obj, swhere)
            scope_name = ""
            scope_obj = ss.get("scope", ss.get("instrumentationLibrary"))
            if scope_obj is not None:
                scope_obj = _object(scope_obj, f"{swhere}.scope")
                scope_name = _str(scope_obj.get("name"), f"{swhere}.scope.name")
            for k, span in enumerate(_list(ss, "spans", f"{swhere}.spans")):
                out.append(_span(span, f"{swhere}.spans[{k}]", resource, scope_name))
    return out


def _span(obj: Any, where: str, resource: dict[str, AttrValue], scope: str) -> Span:
    obj = _object(obj, where)
    parent = obj.get("parentSpanId")
    status_obj = obj.get("status")
    status, message = StatusCode.UNSET, ""
    if status_obj is not None:
        status_obj = _object(status_obj, f"{where}.status")
        status = _enum(status_obj.get("code"), f"{where}.status.code", _STATUSES, _STATUS_NAMES)
        message = _str(status_obj.get("message"), f"{where}.status.message")
    raw_events = _list(obj, "events", f"{where}.events")
    events = tuple(_event(e, f"{where}.events[{n}]") for n, e in enumerate(raw_events))
    return Span(
        trace_id=_hex_id(obj.get("traceId"), 32, f"{where}.traceId"),
        span_id=_hex_id(obj.get("spanId"), 16, f"{where}.spanId"),
        parent_span_id=_hex_id(parent, 16, f"{where}.parentSpanId") if parent else None,
        name=_str(obj.get("name"), f"{where}.name"),
        kind=_enum(obj.get("kind"), f"{where}.kind", _KINDS, _KIND_NAMES),
        start_ns=_time(obj.get("startTimeUnixNano"), f"{where}.startTimeUnixNano"),
        end_ns=_time(obj.get("endTimeUnixNano"), f"{where}.endTimeUnixNano"),
        status=status,
        status_message=message,
        attributes=_attributes(obj.get("attributes"), f"{where}.attributes"),
        events=events,
        resource=resource,
        scope=scope,
    )


def _event(obj: Any, where: str) -> Event:
    obj = _object(obj, where)
    return Event(
        name=_str(obj.get("name"), f"{where}.name"),
        time_ns=_time(obj.get("timeUnixNano"), f"{where}.timeUnixNano"),
        attributes=_attributes(obj.get("attributes"), f"{where}.attributes"),
    )


def _attributes(items: Any, where: str) -> dict[str, AttrValue]:
    """Decode a `KeyValue` list; keys with an empty `AnyValue` are left out (as in `otlp_proto`)."""
    out: dict[str, AttrValue] = {}
    if items is None:
        return out
    if not isinstance(items, list):
        msg = f"{where}: expected a list, got {_type(items)}"
        raise ValueError(msg)
    for n, item in enumerate(items):
        kv_where = f"{where}[{n}]"
        kv = _object(item, kv_where)
        key = _str(kv.get("key"), f"{kv_where}.key", required=True)
        raw = kv.get("value")
        value = None if raw is None else _value(raw, f"{kv_where}.value")
        if value is not None:
            out[key] = value
    return out


def _value(obj: Any, where: str) -> AttrValue | None:
    obj = _object(obj, where)
    if "stringValue" in obj:
        return _str(obj["stringValue"], f"{where}.stringValue")
    if "intValue" in obj:
        value = _int(obj["intValue"], f"{where}.intValue")
        if not _INT64[0] <= value <= _INT64[1]:
            msg = f"{where}.intValue: {_short(value)} is out of the int64 range"
            raise ValueError(msg)
        return value
    if "boolValue" in obj:
        value = obj["boolValue"]
        if not isinstance(value, bool):
            msg = f"{where}.boolValue: expected true or false, got {_type(value)}"
            raise ValueError(msg)
        return value
    if "doubleValue" in obj:
        return _float(obj["doubleValue"], f"{where}.doubleValue")
    if "arrayValue" in obj:
        array = _object(obj["arrayValue"], f"{where}.arrayValue")
        values = array.get("values") or []
        if not isinstance(values, list):
            msg = f"{where}.arrayValue.values: expected a list, got {_type(values)}"
            raise ValueError(msg)
        items = (_value(v, f"{where}.arrayValue.values[{n}]") for n, v in enumerate(values))
        return tuple(v for v in items if v is not None)
    if "kvlistValue" in obj:
        kvlist = _object(obj["kvlistValue"], f"{where}.kvlistValue")
        return _attributes(kvlist.get("values"), f"{where}.kvlistValue.values")
    if "bytesValue" in obj:
        raw = obj["bytesValue"]
        try:
            return base64.b64decode(_str(raw, f"{where}.bytesValue"), validate=True)
        except binascii.Error:
            msg = f"{where}.bytesValue: not valid base64"
            raise ValueError(msg) from None
    return None


def _hex_id(value: Any, digits: int, where: str) -> str:
    if not isinstance(value, str) or len(value) != digits or not _HEX.issuperset(value):
        msg = f"{where}: not {digits} hex digits"
        raise ValueError(msg)
    return value.lower()


def _int(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value, 10)
        except ValueError:
            pass
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    msg = f"{where}: expected an integer or a decimal string, got {_short(value)}"
    raise ValueError(msg)


def _time(value: Any, where: str) -> int:
    """Nanoseconds since the epoch, as a fixed64 can hold them (1970 to 2554)."""
    ns = _int(value, where)
    if not 0 <= ns <= _MAX_TIME_NS:
        msg = f"{where}: {_short(ns)} is not a time in nanoseconds since 1970 (0 to 2^64-1)"
        raise ValueError(msg)
    return ns


def _float(value: Any, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        if value in _FLOAT_WORDS:
            return _FLOAT_WORDS[value]
        try:
            return float(value)
        except ValueError:
            pass
    msg = f"{where}: expected a number, got {_short(value)}"
    raise ValueError(msg)


def _enum(value: Any, where: str, members: Sequence[Any], names: Mapping[str, Any]) -> Any:
    if value is None:
        return members[0]
    if isinstance(value, int) and not isinstance(value, bool):
        # Unknown future values degrade to the zero member rather than reject the span.
        return members[value] if 0 <= value < len(members) else members[0]
    if isinstance(value, str) and value in names:
        return names[value]
    msg = f"{where}: expected an integer enum value, got {_short(value)}"
    raise ValueError(msg)


def _str(value: Any, where: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        msg = f"{where}: expected a string, got {_type(value)}"
        raise ValueError(msg)
    if not value.isascii() and _SURROGATES.search(value):
        # JSON can escape half of a UTF-16 pair; no protobuf string (or database) holds one.
        msg = f"{where}: a lone UTF-16 surrogate escape is not valid Unicode text"
        raise ValueError(msg)
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        msg = f"{where}: expected an object, got {_type(value)}"
        raise ValueError(msg)
    return value


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        msg = f"{where}: expected a list, got {_type(value)}"
        raise ValueError(msg)
    return value


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool)) else _type(value)
    return text if len(text) <= 40 else text[:37] + "..."
