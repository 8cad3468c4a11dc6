"""OTLP/JSON conversion: protocol quirks accepted, bad structure rejected with a precise place."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

from spansift.model import SpanKind, StatusCode
from spansift.sources.otlp_json import parse_json, spans_from_json

TRACE = "5B8EFFF798038103D269B633813FC60C"
SPAN = "EEE19B7EC3C1B174"


def _doc(**span_fields: Any) -> dict[str, Any]:
    span: dict[str, Any] = {"traceId": TRACE, "spanId": SPAN, "name": "s"}
    span.update(span_fields)
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]
                },
                "scopeSpans": [{"scope": {"name": "sc"}, "spans": [span]}],
            }
        ]
    }


def test_value_kinds_and_int_forms() -> None:
    """Every AnyValue form decodes; int64 may be a string or a number; base64 bytes decode."""
    doc = _doc(
        startTimeUnixNano="1763800000000000000",
        endTimeUnixNano=1763800000000000123,
        attributes=[
            {"key": "i1", "value": {"intValue": "42"}},
            {"key": "i2", "value": {"intValue": 42}},
            {"key": "d", "value": {"doubleValue": 1}},
            {"key": "nan", "value": {"doubleValue": "NaN"}},
            {"key": "b", "value": {"boolValue": False}},
            {"key": "raw", "value": {"bytesValue": "AP8="}},
            {"key": "arr", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {}]}}},
            {"key": "map", "value": {"kvlistValue": {"values": [{"key": "k", "value": {}}]}}},
            {"key": "none", "value": {}},
        ],
    )
    (span,) = spans_from_json(doc)
    assert (span.start_ns, span.end_ns) == (1763800000000000000, 1763800000000000123)
    attributes = dict(span.attributes)
    nan = attributes.pop("nan")
    assert isinstance(nan, float)
    assert math.isnan(nan)
    assert attributes == {
        "i1": 42,
        "i2": 42,
        "d": 1.0,
        "b": False,
        "raw": b"\x00\xff",
        "arr": ("a",),
        "map": {},
    }
    assert isinstance(attributes["d"], float)


def test_ids_lowercased_and_enums_read() -> None:
    """Uppercase hex ids are stored lowercase; kind and status are integer enums."""
    doc = _doc(
        parentSpanId="",
        kind=3,
        status={"code": 2, "message": "bad"},
        unknownField={"ignored": True},
    )
    (span,) = spans_from_json(doc)
    assert span.trace_id == TRACE.lower()
    assert span.span_id == SPAN.lower()
    assert span.parent_span_id is None
    assert span.kind is SpanKind.CLIENT
    assert (span.status, span.status_message) == (StatusCode.ERROR, "bad")
    assert span.resource == {"service.name": "svc"}
    assert span.scope == "sc"


def test_enum_names_accepted() -> None:
    """proto3-JSON enum names (`SPAN_KIND_SERVER`) are read as well as numbers."""
    (span,) = spans_from_json(_doc(kind="SPAN_KIND_SERVER", status={"code": "STATUS_CODE_OK"}))
    assert (span.kind, span.status) == (SpanKind.SERVER, StatusCode.OK)


def test_old_instrumentation_library_keys() -> None:
    """The pre-1.0 `instrumentationLibrarySpans` / `instrumentationLibrary` keys still work."""
    doc = _doc()
    rs = doc["resourceSpans"][0]
    scope_spans = rs.pop("scopeSpans")
    scope_spans[0]["instrumentationLibrary"] = scope_spans[0].pop("scope")
    rs["instrumentationLibrarySpans"] = scope_spans
    (span,) = spans_from_json(doc)
    assert span.scope == "sc"


def test_empty_document_has_no_spans() -> None:
    """An empty resourceSpans list is an empty request; no resourceSpans at all is an error."""
    assert spans_from_json({"resourceSpans": []}) == []
    with pytest.raises(ValueError, match="holds no resourceSpans"):
        spans_from_json({})


def _broken(path: str, value: Any) -> dict[str, Any]:
    """`_doc()` with the value at a dotted path inside the first span replaced."""
    doc = copy.deepcopy(_doc(attributes=[{"key": "k", "value": {"stringValue": "v"}}]))
    target: Any = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return doc


SPAN_AT = "resourceSpans[0].scopeSpans[0].spans[0]"


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        pytest.param("traceId", "abc", "traceId: not 32 hex digits", id="short-trace-id"),
        pytest.param("spanId", "zz" * 8, "spanId: not 16 hex digits", id="non-hex-span-id"),
        pytest.param("parentSpanId", 7, "parentSpanId: not 16 hex digits", id="numeric-parent"),
        pytest.param(
            "startTimeUnixNano",
            "soon",
            'startTimeUnixNano: expected an integer or a decimal string, got "soon"',
            id="bad-time",
        ),
        pytest.param(
            "kind", "SERVER", 'kind: expected an integer enum value, got "SERVER"', id="kind"
        ),
        pytest.param("name", 3, "name: expected a string, got a number", id="name"),
        pytest.param(
            "attributes.0.value",
            {"boolValue": "yes"},
            "attributes[0].value.boolValue: expected true or false, got a string",
            id="bool",
        ),
        pytest.param(
            "attributes.0.value",
            {"bytesValue": "not base64!"},
            "attributes[0].value.bytesValue: not valid base64",
            id="bytes",
        ),
        pytest.param(
            "attributes.0.key", None, "attributes[0].key: expected a string, got null", id="key"
        ),
        pytest.param("events", {}, "events: expected a list, got an object", id="events"),
        pytest.param("status", [], "status: expected an object, got a list", id="status"),
    ],
)
def test_structure_errors_name_the_place(path: str, value: Any, reason: str) -> None:
    """Each kind of structural error raises `ValueError` naming the JSON path of the bad value."""
    with pytest.raises(ValueError) as info:
        spans_from_json(_broken(path, value))
    assert str(info.value) == f"{SPAN_AT}.{reason}"


def test_non_object_document_rejected() -> None:
    """A JSON list at the top is not a trace request."""
    with pytest.raises(ValueError, match="expected a JSON object with resourceSpans, got a list"):
        spans_from_json([])  # type: ignore[arg-type]


def test_parse_json_reports_syntax_column() -> None:
    """`parse_json` turns a syntax error into `not valid JSON: <what> (column N)`."""
    with pytest.raises(ValueError) as info:
        parse_json(b'{"resourceSpans" []}')
    assert str(info.value) == "not valid JSON: Expecting ':' delimiter (column 18)"


def test_parse_json_reads_bytes() -> None:
    """`parse_json` converts a whole OTLP/JSON body."""
    (span,) = parse_json(json.dumps(_doc()).encode())
    assert span.name == "s"
