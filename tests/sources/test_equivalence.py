"""The same spans as SDK objects, OTLP protobuf and OTLP/JSON convert to equal `Span` values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from otlp_trace import BASE_NS, SCOPE, TRACE_ID, make_agent_spans, request_to_json

from spansift import attrs
from spansift.model import Event, Span, SpanKind, StatusCode
from spansift.sources.files import iter_file
from spansift.sources.otlp_json import spans_from_json
from spansift.sources.otlp_proto import spans_from_request
from spansift.sources.sdk import span_from_readable

FIXTURES = Path(__file__).parents[1] / "fixtures" / "otlp"


@pytest.fixture(scope="module")
def sdk_spans() -> list[Span]:
    return [span_from_readable(s) for s in make_agent_spans()]


def _from_file(path: Path) -> list[Span]:
    out: list[Span] = []
    for chunk in iter_file(path):
        assert chunk.error is None, str(chunk.error)
        if chunk.request is not None:
            out.extend(spans_from_request(chunk.request))
        else:
            assert chunk.spans is not None
            out.extend(chunk.spans)
    return out


def test_protobuf_equals_sdk(sdk_spans: list[Span]) -> None:
    """Encoding SDK spans with the OTLP encoder and converting back gives the same spans."""
    assert spans_from_request(encode_spans(make_agent_spans())) == sdk_spans


@pytest.mark.parametrize(
    ("upper_hex", "bare_ints"), [(False, False), (True, True)], ids=["collector", "example"]
)
def test_json_equals_sdk(sdk_spans: list[Span], upper_hex: bool, bare_ints: bool) -> None:
    """OTLP/JSON of the SDK spans, with any hex case and int64 form, gives the same spans."""
    doc = request_to_json(
        encode_spans(make_agent_spans()), upper_hex=upper_hex, bare_ints=bare_ints
    )
    assert spans_from_json(json.loads(json.dumps(doc))) == sdk_spans


@pytest.mark.parametrize(
    "name",
    ["agent_trace.pb", "agent_trace.pb.gz", "agent_trace.jsonl", "agent_trace.json"],
)
def test_fixture_files_equal_sdk(sdk_spans: list[Span], name: str) -> None:
    """Every committed fixture file holds the spans the deterministic SDK trace produces."""
    assert _from_file(FIXTURES / name) == sdk_spans


def test_failing_tool_span_fields(sdk_spans: list[Span]) -> None:
    """The failing tool span keeps ids, kind, status, attributes, event, resource and scope."""
    span = next(s for s in sdk_spans if s.name == "execute_tool refund_order")
    root = next(s for s in sdk_spans if s.parent_span_id is None)
    assert span.trace_id == f"{TRACE_ID:032x}"
    assert len(span.span_id) == 16
    assert span.span_id == span.span_id.lower()
    assert span.parent_span_id == root.span_id
    assert span.kind is SpanKind.INTERNAL
    assert span.status is StatusCode.ERROR
    assert span.status_message == "refund over limit"
    assert (span.start_ns, span.end_ns) == (BASE_NS + 951_000_000, BASE_NS + 991_000_000)
    assert span.attributes[attrs.ERROR_TYPE] == "PermissionError"
    assert span.attributes["refund.amount"] == 1250.5
    assert span.events == (
        Event(
            name="exception",
            time_ns=BASE_NS + 990_000_000,
            attributes={
                "exception.type": "PermissionError",
                "exception.message": "refund over limit",
                "exception.stacktrace": "PermissionError: refund over limit\n",
                "exception.escaped": "False",
            },
        ),
    )
    assert span.resource == {"service.name": "support-agent", "deployment.environment": "test"}
    assert span.scope == SCOPE


def test_value_types_survive(sdk_spans: list[Span]) -> None:
    """Arrays become tuples and bools, ints and doubles keep their Python types."""
    chat = next(s for s in sdk_spans if s.name == "chat gpt-4o")
    assert chat.kind is SpanKind.CLIENT
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert chat.attributes["gen_ai.request.stream"] is False
    assert chat.attributes["gen_ai.usage.input_tokens"] == 812
    assert isinstance(chat.attributes["gen_ai.request.temperature"], float)
    lookup = next(s for s in sdk_spans if s.name == "execute_tool get_order")
    assert lookup.attributes["order.ids"] == (1001, 1002)
