"""Protocol details shared by the HTTP and gRPC front ends.

Bounded decompression, request validation, `google.rpc.Status` bodies and the
bearer-token check. Everything here is pure and safe to call from any thread.
"""

from __future__ import annotations

import hmac
import json
import zlib
from dataclasses import dataclass
from operator import attrgetter

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from spansift.receiver._spool import KIND_JSON, KIND_PROTOBUF
from spansift.sources.otlp_encode import request_from_spans
from spansift.sources.otlp_json import load_json, parse_json
from spansift.sources.otlp_logs import spans_from_logs_json, spans_from_logs_request
from spansift.sources.otlp_proto import decode_request

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MEDIA_KINDS = {PROTOBUF: KIND_PROTOBUF, JSON: KIND_JSON}
_CHUNK = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"


class TooLargeError(Exception):
    """The body (raw or decompressed) is over the size limit."""


class BadBodyError(Exception):
    """The body cannot be decoded as an OTLP trace request."""


class UnsupportedError(Exception):
    """A content type or content encoding this receiver does not speak."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """A validated request, ready to spool: its record kind, serialized form and span count."""

    kind: int
    payload: bytes
    spans: int


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`; `UnsupportedError` if neither."""
    value = (content_type or "").split(";", 1)[0].strip().lower()
    if value not in MEDIA_KINDS:
        msg = f"unsupported Content-Type {content_type!r}: use {PROTOBUF} or {JSON}"
        raise UnsupportedError(msg)
    return value


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo `Content-Encoding` (none, gzip, deflate), never holding more than `limit` bytes.

    A gzip body may hold several members (RFC 1952 allows it, `cat a.gz b.gz` makes it);
    every member is read. Bytes after the last member or after a zlib stream are refused:
    acknowledging a body we only partly read would drop the rest silently.
    """
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity", "none"):
        return body
    if name not in ("gzip", "x-gzip", "deflate"):
        msg = f"unsupported Content-Encoding {encoding!r}: use gzip, deflate or none"
        raise UnsupportedError(msg)
    try:
        # 47 = 32 + 15: zlib or gzip header, detected automatically.
        return _inflate_all(body, 47, limit)
    except zlib.error:
        if name != "deflate":
            msg = "body is not valid gzip data"
            raise BadBodyError(msg) from None
    try:  # some clients send raw deflate under the name `deflate`
        return _inflate_all(body, -15, limit)
    except zlib.error:
        msg = "body is not valid deflate data"
        raise BadBodyError(msg) from None


def _inflate_all(body: bytes, wbits: int, limit: int) -> bytes:
    """Every member of `body`, concatenated; trailing bytes that start no member are an error."""
    out = bytearray()
    pending = body
    while True:
        pending = _inflate(pending, wbits, limit, out)
        if not pending:
            return bytes(out)
        if not (wbits == 47 and pending[:2] == _GZIP_MAGIC):
            msg = f"{len(pending):,} bytes of trailing data after the compressed body"
            raise BadBodyError(msg)


def _inflate(body: bytes, wbits: int, limit: int, out: bytearray) -> bytes:
    """Inflate one stream from `body` onto `out`; returns the bytes after it."""
    inflater = zlib.decompressobj(wbits=wbits)
    pending = body
    while pending:
        out += inflater.decompress(pending, _CHUNK)
        if len(out) > limit:
            msg = f"decompressed body is over the limit of {limit:,} bytes"
            raise TooLargeError(msg)
        pending = inflater.unconsumed_tail
        if inflater.eof:
            break
    out += inflater.flush(_CHUNK)
    if len(out) > limit:
        msg = f"decompressed body is over the limit of {limit:,} bytes"
        raise TooLargeError(msg)
    if not inflater.eof:
        msg = "compressed body is truncated"
        raise BadBodyError(msg)
    return inflater.unused_data


TRACES, LOGS, METRICS = "traces", "logs", "metrics"


def validate(kind: int, body: bytes, signal: str = TRACES) -> Accepted:
    """Decode `body` far enough to know it is a request of `signal` with well-formed ids.

    Logs become trace requests of their records' child spans (`sources.otlp_logs`);
    metrics are checked and dropped (nothing to spool: `spans` is 0).
    """
    if signal == LOGS:
        return _logs(kind, body)
    if signal == METRICS:
        _metrics(kind, body)
        return Accepted(KIND_PROTOBUF, b"", 0)
    if kind == KIND_JSON:
        # JSON is checked as strictly as protobuf would be (Unicode text, value ranges) and
        # spooled as protobuf: what is acknowledged is what the worker can always read.
        try:
            spans = parse_json(body)
            payload = request_from_spans(spans).SerializeToString()
        except (ValueError, RecursionError) as exc:
            raise BadBodyError(str(exc)) from None
        return Accepted(KIND_PROTOBUF, payload, len(spans))
    try:
        request = decode_request(body)
    except (ValueError, RecursionError) as exc:
        raise BadBodyError(str(exc)) from None
    count = 0
    for r_index, resource_spans in enumerate(request.resource_spans):
        for s_index, scope_spans in enumerate(resource_spans.scope_spans):
            spans = scope_spans.spans
            # The id lengths of a whole group at C speed; the loop only to name a bad one.
            if not _ID_LENGTHS.issuperset(map(len, map(_TRACE_ID, spans))) or not (
                _SPAN_ID_LENGTHS.issuperset(map(len, map(_SPAN_ID, spans)))
            ):
                for index, span in enumerate(spans):
                    if len(span.trace_id) != 16 or len(span.span_id) != 8:
                        where = f"resource_spans[{r_index}].scope_spans[{s_index}].spans[{index}]"
                        msg = f"{where}: trace_id must be 16 bytes and span_id 8 bytes"
                        raise BadBodyError(msg)
            count += len(spans)
    return Accepted(kind, body, count)


_TRACE_ID, _SPAN_ID = attrgetter("trace_id"), attrgetter("span_id")
_ID_LENGTHS, _SPAN_ID_LENGTHS = frozenset({16}), frozenset({8})


def _logs(kind: int, body: bytes) -> Accepted:
    try:
        if kind == KIND_JSON:
            spans = spans_from_logs_json(_json_object(body))
        else:
            spans = spans_from_logs_request(ExportLogsServiceRequest.FromString(body))
        payload = request_from_spans(spans).SerializeToString() if spans else b""
    except (ValueError, RecursionError, DecodeError) as exc:
        raise BadBodyError(str(exc) or "not a valid OTLP logs request") from None
    return Accepted(KIND_PROTOBUF, payload, len(spans))


def _metrics(kind: int, body: bytes) -> None:
    try:
        if kind == KIND_JSON:
            _json_object(body)
        else:
            ExportMetricsServiceRequest.FromString(body)
    except (ValueError, RecursionError, DecodeError) as exc:
        raise BadBodyError(str(exc) or "not a valid OTLP metrics request") from None


def _json_object(body: bytes) -> dict[str, object]:
    doc = load_json(body)
    if not isinstance(doc, dict):
        msg = "expected a JSON object"
        raise ValueError(msg)
    return doc


def success_body(media: str) -> bytes:
    """An empty `ExportTraceServiceResponse` (partial_success unset) in the request's encoding."""
    if media == JSON:
        return b"{}"
    data: bytes = ExportTraceServiceResponse().SerializeToString()
    return data


def status_body(media: str, code: int, message: str, *, bad_request: bool = False) -> bytes:
    """A `google.rpc.Status` (optionally with a `BadRequest` detail) in the request's encoding."""
    status = status_pb2.Status(code=code, message=message)
    if bad_request:
        detail = error_details_pb2.BadRequest()
        violation = detail.field_violations.add()
        violation.field = "body"
        violation.description = message
        status.details.add().Pack(detail)
    if media == JSON:
        doc = json_format.MessageToDict(status)
        return json.dumps(doc).encode()
    data: bytes = status.SerializeToString()
    return data


def retry_info(delay_s: int) -> bytes:
    """A serialized `google.rpc.RetryInfo` asking the client to wait `delay_s` seconds."""
    info = error_details_pb2.RetryInfo()
    info.retry_delay.seconds = delay_s
    data: bytes = info.SerializeToString()
    return data


def unavailable_status(message: str, delay_s: int) -> bytes:
    """UNAVAILABLE as a serialized `google.rpc.Status` with `RetryInfo`, for status details."""
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message)
    info = error_details_pb2.RetryInfo()
    info.retry_delay.seconds = delay_s
    status.details.add().Pack(info)
    data: bytes = status.SerializeToString()
    return data


def token_ok(expected: str | None, header: str | None) -> bool:
    """True when no token is configured, or `header` is `Bearer <expected>` (constant time)."""
    if not expected:
        return True
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), expected.encode())
