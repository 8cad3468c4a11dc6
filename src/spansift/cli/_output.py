"""Query results for people and programs: tables, one JSON document, JSON lines, CSV.

The same conventions hold in every command: timestamps are ISO 8601 in UTC with
`Z`; JSON columns (`evidence`, `span`) are objects in `json` and `jsonl`;
`json` prints one document (a list, or an object for commands that report more
than rows) and `jsonl` one object a line. A table fits the terminal it is shown
on: the widest columns are cut first, with `...`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

from spansift._table import aligned

FORMATS = ("table", "json", "jsonl", "csv")


@dataclass(frozen=True, slots=True)
class Result:
    """Rows of a query with their column names and DuckDB type names ("" when unknown)."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    types: tuple[str, ...] = field(default=())

    def type_of(self, index: int) -> str:
        return self.types[index].upper() if index < len(self.types) else ""


def iso(value: datetime | date) -> str:
    """ISO 8601; a datetime in UTC with `Z` (naive ones are UTC already, as the log stores)."""
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat() + "Z"


def plain(value: Any, type_name: str = "", *, objects: bool = True) -> Any:
    """A value JSON and CSV can carry; a JSON column becomes an object when `objects`."""
    if isinstance(value, (datetime, date)):
        return iso(value)
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, UUID):
        return str(value)
    if objects and type_name == "JSON" and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def records(result: Result) -> list[dict[str, Any]]:
    """The rows as JSON-ready objects keyed by column."""
    types = [result.type_of(i) for i in range(len(result.columns))]
    return [
        {c: plain(v, t) for c, t, v in zip(result.columns, types, row, strict=True)}
        for row in result.rows
    ]


def dump(doc: Any) -> str:
    """One JSON document, indented for people and valid for programs."""
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str)


def terminal_width() -> int | None:
    """Columns of the terminal stdout is on (or $COLUMNS); None when output is piped."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def render(result: Result, fmt: str, width: int | None = None) -> str:
    """The result as text in `fmt` (one of `FORMATS`), without a trailing newline."""
    if fmt == "json":
        return dump(records(result))
    if fmt == "jsonl":
        return "\n".join(json.dumps(r, ensure_ascii=False, default=str) for r in records(result))
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[plain(v, objects=False) for v in row] for row in result.rows])
        return buffer.getvalue().rstrip("\n")
    return "\n".join(table(result.columns, result.rows, width))


def cell(value: Any) -> str:
    """A value as one line of text; timestamps to the second, ISO 8601 with `Z`."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value.replace(microsecond=0))
    return str(plain(value, objects=False)).replace("\n", " ")


def table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int | None = None
) -> list[str]:
    """Aligned lines cut to fit `width` (cells at most 60 characters when it is unknown)."""
    return aligned(columns, [[cell(v) for v in row] for row in rows], width)


def cut_note(shown: int, total: int, flag: str = "--limit") -> str:
    """`showing 50 of 1,234 (--limit N for more)` when rows were left out, else ""."""
    if total <= shown:
        return ""
    return f"showing {shown:,} of {total:,} ({flag} N for more, {flag} 0 for all)"


def as_mapping(pairs: Sequence[tuple[str, Any]]) -> Mapping[str, Any]:
    return {k: plain(v) for k, v in pairs}
