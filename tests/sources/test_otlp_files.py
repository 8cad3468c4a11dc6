"""Reading OTLP files: every format, gzip, Collector framing, and bad input as error chunks."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from otlp_trace import frame

from spansift.model import Origin
from spansift.sources.files import Chunk, iter_file, iter_paths

FIXTURES = Path(__file__).parents[1] / "fixtures" / "otlp"


def _errors(chunks: list[Chunk]) -> list[str]:
    return [str(c.error) for c in chunks if c.error is not None]


def _span_count(chunks: list[Chunk]) -> int:
    total = 0
    for c in chunks:
        if c.spans is not None:
            total += len(c.spans)
        elif c.request is not None:
            total += sum(len(ss.spans) for rs in c.request.resource_spans for ss in rs.scope_spans)
    return total


def test_chunks_set_exactly_one_field() -> None:
    """Every chunk of every fixture carries exactly one of spans, request or error."""
    for path in iter_paths([FIXTURES]):
        for chunk in iter_file(path):
            assert sum(x is not None for x in (chunk.spans, chunk.request, chunk.error)) == 1


def test_jsonl_origins_are_line_numbers() -> None:
    """Each JSONL request is one chunk whose origin is its 1-based line."""
    path = FIXTURES / "agent_trace.jsonl"
    chunks = list(iter_file(path))
    assert [c.origin for c in chunks] == [Origin(str(path), n) for n in (1, 2, 3)]
    assert _span_count(chunks) == 5


def test_malformed_line_does_not_stop_the_file() -> None:
    """A cut-off middle line becomes one error naming file and line; lines 1 and 3 still decode."""
    path = FIXTURES / "malformed_line.jsonl"
    chunks = list(iter_file(path))
    assert [c.origin.line for c in chunks] == [1, 2, 3]
    assert chunks[0].spans is not None
    assert chunks[2].spans is not None
    (error,) = _errors(chunks)
    assert error.startswith(f"{path}:2: not valid JSON: ")
    assert chunks[1].error is not None
    assert chunks[1].error.origin == Origin(str(path), 2)


def test_bad_line_message_format(tmp_path: Path) -> None:
    """A syntax error reads `file:line: not valid JSON: <what> (column N)`; blank lines skip."""
    path = tmp_path / "traces.jsonl"
    good = (FIXTURES / "agent_trace.jsonl").read_text().splitlines()[0]
    path.write_text(f'{good}\n\n{{"resourceSpans": [] "x": 1}}\n')
    chunks = list(iter_file(path))
    assert _errors(chunks) == [f"{path}:3: not valid JSON: Expecting ',' delimiter (column 22)"]


def test_structure_error_in_line(tmp_path: Path) -> None:
    """A line that parses but is not a valid trace request names the file, line and JSON path."""
    path = tmp_path / "traces.jsonl"
    path.write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab"}]}]}]}\n')
    assert _errors(list(iter_file(path))) == [
        f"{path}:1: resourceSpans[0].scopeSpans[0].spans[0].traceId: not 32 hex digits"
    ]


def test_json_file_holding_jsonl(tmp_path: Path) -> None:
    """A `.json` file with one request per line (the Collector default) is read as JSONL."""
    path = tmp_path / "collector.json"
    shutil.copy(FIXTURES / "agent_trace.jsonl", path)
    chunks = list(iter_file(path))
    assert [c.origin.line for c in chunks] == [1, 2, 3]
    assert _span_count(chunks) == 5


def test_json_document_syntax_error_has_its_line(tmp_path: Path) -> None:
    """A broken pretty-printed document is one error at the line where parsing stopped."""
    path = tmp_path / "bad.json"
    path.write_text('{\n  "resourceSpans": [\n    {,}\n  ]\n}\n')
    assert _errors(list(iter_file(path))) == [
        f"{path}:3: not valid JSON: Expecting property name enclosed in double quotes (column 6)"
    ]


def test_gzip_detected_by_magic_bytes(tmp_path: Path) -> None:
    """A gzipped file without the `.gz` suffix is still decompressed."""
    path = tmp_path / "traces.jsonl"
    path.write_bytes(gzip.compress((FIXTURES / "agent_trace.jsonl").read_bytes()))
    assert _span_count(list(iter_file(path))) == 5


def test_raw_and_framed_protobuf() -> None:
    """A single raw request and the Collector's length-prefixed stream both decode."""
    raw = list(iter_file(FIXTURES / "agent_trace.pb"))
    framed = list(iter_file(FIXTURES / "agent_trace.pb.gz"))
    assert len(raw) == 1
    assert len(framed) == 3
    assert _span_count(raw) == _span_count(framed) == 5


def test_truncated_frame(tmp_path: Path) -> None:
    """A stream cut inside its second message keeps the first and reports the second."""
    body = (FIXTURES / "agent_trace.pb").read_bytes()
    size = len(body)
    path = tmp_path / "cut.pb"
    path.write_bytes(frame([body, body])[:-10])
    chunks = list(iter_file(path))
    assert chunks[0].request is not None
    assert _errors(chunks) == [
        f"{path}: message 2 at byte {4 + size}: truncated: {size - 10} of {size} bytes"
    ]


def test_undecodable_frame_is_skipped(tmp_path: Path) -> None:
    """A framed message that is not protobuf is an error; the following message still decodes."""
    body = (FIXTURES / "agent_trace.pb").read_bytes()
    path = tmp_path / "mixed.pb"
    path.write_bytes(frame([b"\xff\xff\xff", body]))
    chunks = list(iter_file(path))
    assert chunks[0].error is not None
    assert chunks[0].error.reason.startswith("message 1 at byte 0: not a valid OTLP protobuf")
    assert chunks[1].request is not None


def test_corrupt_gzip(tmp_path: Path) -> None:
    """A gzip stream that breaks off is one error chunk after the lines read before it."""
    data = gzip.compress((FIXTURES / "agent_trace.jsonl").read_bytes())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) - 20])
    chunks = list(iter_file(path))
    (error,) = _errors(chunks)
    assert error.startswith(f"{path}: cannot read")
    assert chunks[-1].error is not None


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    """A file with another suffix, or a missing one, is an error chunk, not an exception."""
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert _errors(list(iter_file(other))) == [
        f"{other}: unsupported file type (expected .jsonl, .json, .pb, optionally .gz)"
    ]
    missing = tmp_path / "gone.jsonl"
    assert _errors(list(iter_file(missing))) == [
        f"{missing}: cannot open: No such file or directory"
    ]


def test_empty_pb_file_is_empty(tmp_path: Path) -> None:
    """A zero-byte `.pb` file is an empty request and yields nothing."""
    path = tmp_path / "empty.pb"
    path.write_bytes(b"")
    assert list(iter_file(path)) == []


@pytest.mark.parametrize("name", ["a.jsonl", "b.json", "c.pb", "d.json.gz", "e.PB.GZ"])
def test_iter_paths_expands_folders(tmp_path: Path, name: str) -> None:
    """Folders expand recursively to sorted OTLP files; other files there are skipped."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / name).write_bytes(b"")
    (tmp_path / "z.jsonl").write_bytes(b"")
    (tmp_path / "readme.md").write_text("x")
    assert list(iter_paths([tmp_path])) == [tmp_path / "sub" / name, tmp_path / "z.jsonl"]


def test_iter_paths_keeps_named_files(tmp_path: Path) -> None:
    """A file named explicitly passes through even with an unsupported suffix."""
    path = tmp_path / "notes.txt"
    assert list(iter_paths([path])) == [path]
