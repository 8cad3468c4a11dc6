"""OTLP protobuf conversion: value kinds, enums and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from spansift.model import SpanKind, StatusCode
from spansift.sources.otlp_proto import decode_request, spans_from_request

TRACE = bytes.fromhex("5B8EFFF798038103D269B633813FC60C")


def _kv(key: str, **value: Any) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def _request(*spans: Span, resource: list[KeyValue] | None = None) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(resource or [_kv("service.name", string_value="svc")])
    ss = rs.scope_spans.add()
    ss.scope.name = "scope"
    ss.spans.extend(spans)
    return request


def _span(n: int = 1, **fields: Any) -> Span:
    return Span(trace_id=TRACE, span_id=n.to_bytes(8, "big"), name=f"s{n}", **fields)


def test_every_any_value_kind_decodes() -> None:
    """Strings, bools, ints, doubles, bytes, arrays and kvlists decode to Python values."""
    nested = KeyValueList(values=[_kv("inner", int_value=3)])
    span = _span(
        attributes=[
            _kv("s", string_value="x"),
            _kv("b", bool_value=True),
            _kv("i", int_value=-7),
            _kv("d", double_value=0.5),
            _kv("raw", bytes_value=b"\x00\xff"),
            _kv("arr", array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue()])),
            _kv("map", kvlist_value=nested),
            KeyValue(key="empty"),
        ]
    )
    (converted,) = spans_from_request(_request(span))
    assert converted.attributes == {
        "s": "x",
        "b": True,
        "i": -7,
        "d": 0.5,
        "raw": b"\x00\xff",
        "arr": (1,),
        "map": {"inner": 3},
    }


def test_ids_enums_and_root_parent() -> None:
    """Ids become lowercase hex, an empty parent becomes None and enums keep their numbers."""
    span = _span(kind=Span.SPAN_KIND_CLIENT, status=Status(code=Status.STATUS_CODE_ERROR))
    (converted,) = spans_from_request(_request(span))
    assert converted.trace_id == "5b8efff798038103d269b633813fc60c"
    assert converted.span_id == "0000000000000001"
    assert converted.parent_span_id is None
    assert converted.kind is SpanKind.CLIENT
    assert converted.status is StatusCode.ERROR
    assert converted.resource == {"service.name": "svc"}
    assert converted.scope == "scope"


def test_unknown_enum_values_fall_back_to_zero() -> None:
    """A kind or status code from a newer protocol version degrades instead of failing."""
    span = _span(kind=9, status=Status(code=7))  # type: ignore[arg-type]
    (converted,) = spans_from_request(_request(span))
    assert converted.kind is SpanKind.UNSPECIFIED
    assert converted.status is StatusCode.UNSET


def test_decode_request_rejects_garbage() -> None:
    """Bytes that are not a protobuf message raise `ValueError` with a short reason."""
    with pytest.raises(ValueError, match=r"^not a valid OTLP protobuf trace request"):
        decode_request(b"\xff\xff\xff\xff")


def test_decode_request_round_trips() -> None:
    """A serialized request decodes back to an equal message."""
    request = _request(_span())
    assert decode_request(request.SerializeToString()) == request


def test_empty_request_gives_no_spans() -> None:
    """An empty request is valid and yields nothing."""
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans()])])
    assert spans_from_request(request) == []


def test_spans_encoded_as_otlp_decode_to_the_same_spans() -> None:
    """What the processor forwards to a receiver is what the receiver reads back."""
    from spansift.sources.files import iter_file
    from spansift.sources.otlp_encode import request_from_spans
    from spansift.sources.otlp_proto import spans_from_request

    fixtures = Path(__file__).parents[1] / "fixtures" / "traces"
    spans = [s for name in ("loop", "bypass") for c in iter_file(fixtures / f"{name}.jsonl")
             for s in c.spans or ()]  # fmt: skip
    assert spans
    assert list(spans_from_request(request_from_spans(spans))) == spans


def test_empty_arrays_maps_and_falsy_values_survive_encoding() -> None:
    """An empty array or map, false, 0 and "" are values: encoded and read back as sent."""
    from spansift.model import Event, Span, SpanKind, StatusCode
    from spansift.sources.otlp_encode import request_from_spans
    from spansift.sources.otlp_proto import spans_from_request

    values = {"a": (), "m": {}, "f": False, "z": 0, "s": "", "nested": ((), {"k": ()})}
    span = Span(
        "ab" * 16, "cd" * 8, None, "n", SpanKind.SERVER, 1, 2, StatusCode.UNSET, "", values,
        (Event("e", 3, values),), {"service.name": "svc", **values}, "scope",
    )  # fmt: skip
    assert spans_from_request(request_from_spans([span])) == [span]
