"""OTLP trace files for backfill: `.jsonl`, `.json` and `.pb`, each optionally gzipped.

What the OpenTelemetry Collector's file exporter writes:

- `format: json` (its default): one OTLP/JSON `ExportTraceServiceRequest` per
  line, even when the file is named `.json`.
- `format: proto`: each serialized request preceded by its length as a 4-byte
  big-endian unsigned integer. A length below 16 MiB starts with a 0x00 byte,
  which can never start a serialized request (field number 0 is invalid), so
  such a `.pb` file is read as that stream and anything else as one raw request.

Its own `compression: zstd` option (per-message zstd frames) is not read here;
whole-file gzip (`.gz` suffix or gzip magic bytes) is, decompressed as a stream.

`iter_file` never raises for bad input: each undecodable line, message or file
becomes one `Chunk` carrying an `InputError`, and reading goes on, so one bad
line never hides the rest of the file. It blocks on file I/O.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, cast

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spansift.errors import InputError
from spansift.model import Origin, Span
from spansift.sources._formats import NotOtlpError
from spansift.sources.otlp_json import json_error_reason, spans_from_json
from spansift.sources.otlp_logs import spans_from_logs_json
from spansift.sources.otlp_proto import decode_request

__all__ = ["SUFFIXES", "Chunk", "iter_file", "iter_paths"]

# File name endings read, each also with `.gz` appended.
SUFFIXES = (".jsonl", ".json", ".pb")
STDIN = Path("-")
_GZIP_MAGIC = b"\x1f\x8b"
_FRAME_HEADER = 4


@dataclass(frozen=True, slots=True)
class Chunk:
    """One unit read from a file: exactly one of `spans`, `request` or `error` is set.

    JSON input arrives converted (`spans`); protobuf input stays a `request`, so the
    sifter can look at it before any span is built.
    """

    origin: Origin
    spans: tuple[Span, ...] | None = None
    request: ExportTraceServiceRequest | None = None
    error: InputError | None = None
    raw: bytes = b""  # the JSON text `spans` came from, to send it on unchanged
    body: bytes = b""  # the protobuf bytes `request` was decoded from (the sifter's look)
    offset: int = 0  # bytes of the file (as stored, compressed or not) read so far


class _Stream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def peek(self, size: int, /) -> bytes: ...
    def __iter__(self) -> Iterator[bytes]: ...


def iter_paths(paths: Sequence[Path]) -> Iterator[Path]:
    """Expand folders recursively to their OTLP files (sorted); files named explicitly pass as is.

    An explicitly named file with another suffix still comes out, so that
    `iter_file` can report it instead of skipping it silently.
    """
    for path in paths:
        if path.is_dir():
            found = (p for p in path.rglob("*") if p.is_file() and _format(p) is not None)
            yield from sorted(found)
        else:
            yield path


def iter_file(path: Path) -> Iterator[Chunk]:
    """Read one OTLP file chunk by chunk; problems become error chunks, never exceptions.

    `-` is standard input, read as it arrives: JSON lines, or protobuf (plain or gzip).
    """
    if path == STDIN:
        yield from _stdin()
        return
    name = str(path)
    fmt = _format(path)
    if fmt is None:
        expected = ", ".join(SUFFIXES)
        yield _error(Origin(name), f"unsupported file type (expected {expected}, optionally .gz)")
        return
    try:
        raw = path.open("rb")
    except OSError as exc:
        yield _error(Origin(name), f"cannot open: {exc.strerror or exc}")
        return
    with raw:
        progress = _Progress()
        try:
            stream: _Stream = raw
            if path.name.lower().endswith(".gz") or raw.peek(2)[:2] == _GZIP_MAGIC:
                stream = gzip.GzipFile(fileobj=raw, mode="rb")
            if fmt == ".jsonl":
                chunks = _jsonl(stream, name, progress)
            elif fmt == ".json":
                chunks = _json(stream.read(), name, progress)
            else:
                chunks = _pb(stream, name, progress)
            seekable = raw.seekable()  # a named pipe is read, but has no position
            for chunk in chunks:
                # The position in the file as stored lets a progress bar move within a file.
                yield replace(chunk, offset=raw.tell()) if seekable else chunk
        except (OSError, EOFError, zlib.error) as exc:
            # Reading or decompressing failed part way: report where, keep what came before.
            yield _error(Origin(name), f"cannot read{progress.where()}: {exc}")


def _stdin() -> Iterator[Chunk]:
    name = "<stdin>"
    progress = _Progress()
    raw = cast("io.BufferedReader", sys.stdin.buffer)  # standard input is buffered: it peeks
    try:
        stream: _Stream = raw
        if raw.peek(2)[:2] == _GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=raw, mode="rb")
        if stream.peek(64).lstrip()[:1] == b"{":
            yield from _jsonl(stream, name, progress)
        else:
            yield from _pb(stream, name, progress)
    except (OSError, EOFError, zlib.error) as exc:
        yield _error(Origin(name), f"cannot read{progress.where()}: {exc}")


class _Progress:
    """How far reading got, for the message when the file breaks off."""

    __slots__ = ("line", "offset")

    def __init__(self) -> None:
        self.line = 0
        self.offset = -1

    def where(self) -> str:
        if self.line:
            return f" after line {self.line}"
        if self.offset >= 0:
            return f" at byte {self.offset}"
        return ""


def _format(path: Path) -> str | None:
    name = path.name.lower().removesuffix(".gz")
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return None


def _jsonl(lines: Iterable[bytes], name: str, progress: _Progress) -> Iterator[Chunk]:
    first = True
    for lineno, line in enumerate(lines, 1):
        progress.line = lineno
        if line.strip():
            chunk = _json_chunk(line, Origin(name, lineno))
            if first and isinstance(chunk.error, _NotOtlp):
                # A file of another format: one error for the file, not one per line.
                yield _error(Origin(name), f"{chunk.error.reason}; the file was not read")
                return
            first = False
            yield chunk


def _json(data: bytes, name: str, progress: _Progress) -> Iterator[Chunk]:
    try:
        doc = json.loads(data)
    except json.JSONDecodeError as exc:
        lines = data.splitlines()
        if _looks_like_jsonl(lines, exc):
            yield from _jsonl(lines, name, progress)
        else:
            yield _error(Origin(name, exc.lineno), json_error_reason(exc))
        return
    except (UnicodeDecodeError, RecursionError) as exc:
        yield _error(Origin(name), _undecodable(exc))
        return
    yield _spans_chunk(doc, Origin(name), data)


def _looks_like_jsonl(lines: list[bytes], exc: json.JSONDecodeError) -> bool:
    """Several documents, one per line, as the Collector writes even into `.json` files."""
    nonblank = [line for line in lines if line.strip()]
    if len(nonblank) < 2:
        return False
    if exc.msg == "Extra data":
        return True
    try:
        json.loads(nonblank[0])
    except ValueError:
        return False
    return True


def _json_chunk(data: bytes, origin: Origin) -> Chunk:
    try:
        doc = json.loads(data)
    except json.JSONDecodeError as exc:
        return _error(origin, json_error_reason(exc))
    except (UnicodeDecodeError, RecursionError) as exc:
        return _error(origin, _undecodable(exc))
    return _spans_chunk(doc, origin, data)


def _spans_chunk(doc: object, origin: Origin, raw: bytes) -> Chunk:
    try:
        if isinstance(doc, dict) and "resourceLogs" in doc and "resourceSpans" not in doc:
            spans = spans_from_logs_json(doc)  # log records join their spans as events
        else:
            spans = spans_from_json(doc)  # type: ignore[arg-type]  # it checks the type itself
    except NotOtlpError as exc:
        return Chunk(origin, error=_NotOtlp(origin, str(exc)))
    except ValueError as exc:
        return _error(origin, str(exc))
    except RecursionError as exc:
        return _error(origin, _undecodable(exc))
    return Chunk(origin, spans=tuple(spans), raw=raw)


def _pb(stream: _Stream, name: str, progress: _Progress) -> Iterator[Chunk]:
    origin = Origin(name)
    first = stream.peek(1)[:1]
    if not first:
        return  # an empty file is an empty request
    if first != b"\x00":
        yield _request_chunk(stream.read(), origin, "")
        return
    offset = 0
    number = 0
    while True:
        progress.offset = offset
        header = stream.read(_FRAME_HEADER)
        if not header:
            return
        number += 1
        where = f"message {number} at byte {offset}: "
        if len(header) < _FRAME_HEADER:
            yield _error(origin, f"{where}truncated length prefix")
            return
        size = int.from_bytes(header, "big")
        body = stream.read(size)
        if len(body) < size:
            yield _error(origin, f"{where}truncated: {len(body)} of {size} bytes")
            return
        offset += _FRAME_HEADER + size
        yield _request_chunk(body, origin, where)


def _request_chunk(body: bytes, origin: Origin, where: str) -> Chunk:
    try:
        request = decode_request(body)
    except ValueError as exc:
        return _error(origin, f"{where}{exc}")
    return Chunk(origin, request=request, body=body)


def _undecodable(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid UTF-8 at byte {exc.start}"
    return "nested too deeply"


class _NotOtlp(InputError):
    """A document of another format (Jaeger, Zipkin, ...), not a broken OTLP one."""


def _error(origin: Origin, message: str) -> Chunk:
    return Chunk(origin, error=InputError(origin, message))
