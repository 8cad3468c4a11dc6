"""Kept traces: the spans of closed traces as Parquet files beside the database.

Opt-in (`serve` and `ingest` with `--keep-traces`). When a trace closes, the records the
pipeline held for it are written to `<db>.traces/`: each span redacted exactly like
evidence (redacted keys dropped, values bounded and scrubbed by pattern), with the
canonical fields the normalizers derived when it arrived (also redacted), because some
of them come from content evidence leaves out (the calls a model proposed, read from its
messages). Only traces that reached the pipeline are kept: when every rule needs an agent
field, a trace no agent span marked never becomes spans, and is not kept.

Files rotate by time: the buffer is written as one file when it holds `FLUSH_SPANS`
spans or its oldest span waited `FLUSH_S` seconds (and at the end of an ingest or a
shutdown), named by the UTC time it was written; when the folder is over its size cap
the oldest files are deleted first (never the one just written). Keeping is best effort
beside the log: a failed write is counted and said, and never stops a row being written.

`spansift rederive` reads them back (`read_window`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from spansift.errors import SpansiftError
from spansift.evidence import bounded, safe_attributes
from spansift.model import AttrValue, Event, Span, SpanKind, SpanRecord, StatusCode
from spansift.runs.state import thawed

FOLDER_SUFFIX = ".traces"
FLUSH_SPANS = 50_000
FLUSH_S = 60.0
READ_BATCH = 5_000
_logger = logging.getLogger(__name__)
COLUMNS = (
    ("trace_id", "VARCHAR"), ("span_id", "VARCHAR"), ("parent_span_id", "VARCHAR"),
    ("name", "VARCHAR"), ("kind", "TINYINT"), ("start_ns", "BIGINT"), ("end_ns", "BIGINT"),
    ("status", "TINYINT"), ("status_message", "VARCHAR"), ("scope", "VARCHAR"),
    ("session", "VARCHAR"), ("attributes", "VARCHAR"), ("events", "VARCHAR"),
    ("resource", "VARCHAR"), ("fields", "VARCHAR"),
)  # fmt: skip
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def folder_of(db: str | Path) -> Path:
    """Where the kept traces of the log at `db` live."""
    return Path(f"{db}{FOLDER_SUFFIX}")


def parse_size(text: str) -> int:
    """`2GiB`, `500MiB`, `1.5GB`, `4096` (bytes) as bytes; ValueError when it is none."""
    units = {
        "": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
        "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4,
        "tb": 1000**4, "tib": 1024**4,
    }  # fmt: skip
    stripped = text.strip().lower()
    number = stripped.rstrip("kmgtib ")
    unit = stripped[len(number) :].strip()
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in units or not value > 0:
        msg = f"{text!r} is not a size; use e.g. 2GiB, 500MiB or 1GB"
        raise ValueError(msg)
    return int(value * units[unit])


def _fields(fields: Mapping[str, AttrValue]) -> dict[str, Any]:
    """Canonical fields with evidence's redaction, without its cap on how many (a span's
    fields are all kept)."""
    return safe_attributes(fields, limit=len(fields))


def row_of(record: SpanRecord) -> tuple[Any, ...]:
    """The Parquet row of one held record: its span redacted like evidence, and its fields."""
    span = record.span
    session = record.fields.get("session.id")
    events = [[bounded(e.name), e.time_ns, safe_attributes(e.attributes)] for e in span.events]
    return (
        span.trace_id, span.span_id, span.parent_span_id, bounded(span.name), int(span.kind),
        span.start_ns, span.end_ns, int(span.status), bounded(span.status_message),
        bounded(span.scope), session if isinstance(session, str) and session else None,
        _encode(safe_attributes(span.attributes)), _encode(events),
        _encode(safe_attributes(span.resource)), _encode(_fields(record.fields)),
    )  # fmt: skip


class TraceKeeper:
    """Buffers the records of closed traces and writes them as Parquet files (thread-safe)."""

    def __init__(self, db: str | Path, max_bytes: int) -> None:
        self.folder = folder_of(db)
        self.max_bytes = max_bytes
        self.kept = 0  # spans written to a file
        self.failed = 0  # spans a failed write could not keep
        self.files_deleted = 0  # oldest files removed to stay under the cap
        self.last_error: str | None = None
        self._rows: list[tuple[Any, ...]] = []
        self._since = 0.0  # when the oldest buffered row arrived (monotonic)
        self._lock = threading.Lock()
        self._last_name = ""
        try:
            for part in self.folder.glob("*.parquet.part"):  # a write a crash cut short
                part.unlink(missing_ok=True)
        except OSError as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"

    def add(self, records: Iterable[SpanRecord]) -> None:
        """Buffer the records of traces that closed (a record made for an item is skipped).

        Never raises: it runs while traces close, before their rows are written.
        """
        taken = [r for r in records if not r.item]
        try:
            rows = [row_of(r) for r in taken]
        except Exception as exc:  # whatever it is, the rows must still be written
            self._failed(len(taken), exc)
            return
        if not rows:
            return
        with self._lock:
            if not self._rows:
                self._since = time.monotonic()
            self._rows.extend(rows)
            full = len(self._rows) >= FLUSH_SPANS
        if full:  # bounded memory, whenever the rows are committed
            self.flush()

    @property
    def buffered(self) -> int:
        return len(self._rows)

    def due(self) -> bool:
        """Whether the buffer should be written now (full, or waited long enough)."""
        rows = self._rows
        return bool(rows) and (
            len(rows) >= FLUSH_SPANS or time.monotonic() - self._since >= FLUSH_S
        )

    def flush(self) -> int:
        """Write the buffer as one file and apply the cap; returns the spans written.

        A failure is counted (`failed`, `last_error`) and the buffer dropped, so memory
        stays bounded; it never raises.
        """
        with self._lock:
            rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                self._write(rows)
            except (OSError, duckdb.Error) as exc:
                self._failed(len(rows), exc)
                return 0
            self.kept += len(rows)
            try:
                self._apply_cap()
            except OSError as exc:
                self.last_error = f"cannot apply the size cap: {exc}"
                _logger.error("spansift: %s", self.last_error)
            return len(rows)

    def _failed(self, spans: int, exc: BaseException) -> None:
        self.failed += spans
        self.last_error = f"{type(exc).__name__}: {exc}"
        _logger.error("spansift: %s spans not kept: %s", spans, self.last_error)

    def _name(self) -> str:
        name = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        if name <= self._last_name:  # two files within a microsecond (or a clock step back)
            name = self._last_name + "1"
        self._last_name = name
        return name

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.folder / f"{self._name()}.parquet"
        part = target.with_name(target.name + ".part")
        con = duckdb.connect(":memory:")
        try:
            con.execute(f"CREATE TABLE kept ({', '.join(f'{n} {t}' for n, t in COLUMNS)})")
            appender = con.appender("kept")
            appender.append_rows(rows)
            appender.flush()
            escaped = str(part).replace("'", "''")
            con.execute(
                f"COPY (SELECT * FROM kept ORDER BY end_ns) TO '{escaped}' "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
        finally:
            con.close()
        os.replace(part, target)

    def _apply_cap(self) -> None:
        files = kept_files(self.folder)
        sizes = {f: f.stat().st_size for f in files}
        total = sum(sizes.values())
        for old in files[:-1]:  # oldest first; never the file just written
            if total <= self.max_bytes:
                break
            try:
                old.unlink()
            except OSError as exc:
                self.last_error = f"cannot delete {old}: {exc}"
                continue
            total -= sizes[old]
            self.files_deleted += 1


def kept_files(folder: Path) -> list[Path]:
    """The kept Parquet files in `folder`, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.parquet"), key=lambda p: p.name)


# -- reading back ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """The kept traces a rederive reads: those with a span ending at or after `since_ns`,
    and the other kept traces of their sessions (a run is judged whole)."""

    files: tuple[Path, ...]
    since_ns: int
    in_window: frozenset[str]  # trace ids with a span in the window
    traces: frozenset[str]  # trace ids read, the sessions' other traces included
    spans: int


# The traces a window reads (ids only: the spans are read once, in order, by `_SPANS`).
_CHOSEN = """
CREATE TEMP TABLE chosen AS
WITH spans AS (SELECT trace_id, span_id, session, end_ns FROM read_parquet(?)),
win AS (SELECT DISTINCT trace_id FROM spans WHERE end_ns >= ?),
sessions AS (
    SELECT DISTINCT session FROM spans WHERE session IS NOT NULL
    AND trace_id IN (SELECT trace_id FROM win)
),
traces AS (
    SELECT trace_id FROM win
    UNION SELECT DISTINCT trace_id FROM spans WHERE session IN (SELECT session FROM sessions)
)
SELECT trace_id, trace_id IN (SELECT trace_id FROM win) AS in_window,
       count(DISTINCT span_id) AS spans
FROM spans WHERE trace_id IN (SELECT trace_id FROM traces) GROUP BY trace_id
"""
# Their spans in event-time order; a span kept twice (a trace reopened) is read once.
_SPANS = """
SELECT * EXCLUDE (filename) FROM read_parquet(?, filename = true)
WHERE trace_id IN (SELECT trace_id FROM chosen)
QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY filename DESC) = 1
ORDER BY end_ns, trace_id, span_id
"""


def _attrs(text: str) -> dict[str, AttrValue]:
    return thawed(json.loads(text))


def _span(row: tuple[Any, ...]) -> tuple[Span, dict[str, AttrValue]]:
    (trace_id, span_id, parent, name, kind, start_ns, end_ns, status, message, scope, _session,
     attributes, events, resource, fields) = row[:15]  # fmt: skip
    span = Span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=name,
        kind=SpanKind(kind), start_ns=start_ns, end_ns=end_ns, status=StatusCode(status),
        status_message=message or "", attributes=_attrs(attributes),
        events=tuple(Event(str(n), int(t), thawed(a)) for n, t, a in json.loads(events)),
        resource=_attrs(resource), scope=scope or "",
    )  # fmt: skip
    return span, _attrs(fields)


class KeptTraces:
    """The kept traces of one log, read for a window (see `Window`)."""

    def __init__(self, db: str | Path) -> None:
        self.folder = folder_of(db)
        self.files = kept_files(self.folder)

    def window(self, since_ns: int) -> tuple[Window, Iterator[list[tuple[Span, dict[str, Any]]]]]:
        """The window from `since_ns` on, and its spans in batches, in event-time order."""
        files = [str(f) for f in self.files]
        con = duckdb.connect(":memory:")
        try:
            # A long window sorts more than memory holds: DuckDB spills beside the files.
            spill = str(self.folder / ".spill").replace("'", "''")
            con.execute(f"SET temp_directory = '{spill}'")
            con.execute(_CHOSEN, [files, since_ns])
            traces = con.execute("SELECT trace_id, in_window, spans FROM chosen").fetchall()
            cursor = con.execute(_SPANS, [files])
        except duckdb.Error as exc:
            con.close()
            msg = f"cannot read the kept traces in {self.folder}: {exc}"
            raise SpansiftError(msg) from exc
        window = Window(
            tuple(self.files),
            since_ns,
            frozenset(str(t) for t, inside, _ in traces if inside),
            frozenset(str(t) for t, _, _ in traces),
            sum(int(n) for _, _, n in traces),
        )
        return window, _batches(con, cursor)


def _batches(
    con: duckdb.DuckDBPyConnection, cursor: duckdb.DuckDBPyConnection
) -> Iterator[list[tuple[Span, dict[str, Any]]]]:
    try:
        while rows := cursor.fetchmany(READ_BATCH):
            yield [_span(row) for row in rows]
    finally:
        con.close()
