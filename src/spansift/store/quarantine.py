"""The `quarantine` table: input the pipeline or the log could not take, kept with the reason.

Nothing acknowledged is dropped in silence. A spooled request that cannot be decoded,
an exception row or a run state the database refuses (data it cannot hold) is set
aside here, an evidence gap says so, and the rest flows on. Errors of the database
itself (a full disk, an I/O error) are not quarantined: the caller retries them.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from spansift.model import Hit
from spansift.store.rows import utc_from_ns, utc_now

if TYPE_CHECKING:
    from spansift.store.log import ExceptionLog

SINCE = 5  # the schema version that has the table
MAX_REASON_CHARS = 500
# Errors that say the data cannot be stored (a value DuckDB cannot hold, text that is not
# Unicode), as opposed to errors of the database or the disk, which are worth retrying.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    OverflowError,
    duckdb.DataError,
    duckdb.InvalidInputException,
    duckdb.ConversionException,
)


@dataclass(frozen=True, slots=True)
class Quarantined:
    """One thing set aside: what it was, why, its bytes and how many spans it held."""

    source: str  # receiver, ingest, processor
    kind: str  # protobuf, json, exception, run_state
    reason: str
    payload: bytes
    spans: int = 0


def is_data_error(exc: BaseException) -> bool:
    return isinstance(exc, DATA_ERRORS)


def hit_payload(hit: Hit) -> bytes:
    """What identifies a hit the log refused, as ASCII JSON (any text survives escaped)."""
    doc = {
        "rule_id": hit.match.rule_id,
        "exception_type": hit.match.exception_type,
        "trace_id": hit.span.trace_id,
        "span_id": hit.span.span_id,
        "item": hit.item,
        "summary": hit.match.summary[:MAX_REASON_CHARS],
    }
    return json.dumps(doc, ensure_ascii=True).encode()


def set_aside(log: ExceptionLog, items: list[Quarantined]) -> None:
    """Insert `items` and one evidence gap each, in one transaction."""
    if not items or log.schema_version < SINCE:
        return
    now_ns = time.time_ns()
    with log.lock:
        con = log.con
        con.begin()
        try:
            for item in items:
                reason = _ascii(item.reason)[:MAX_REASON_CHARS]
                key = hashlib.sha256(item.payload + reason.encode()).hexdigest()[:32]
                con.execute(
                    "INSERT OR IGNORE INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [key, utc_now(), item.source, item.kind, reason, len(item.payload),
                     item.payload],
                )  # fmt: skip
                gap = f"quarantined {item.kind} {key[:12]}: {reason}"
                con.execute(
                    "INSERT INTO evidence_gaps VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (gap_id) DO NOTHING",
                    [key, item.source, utc_from_ns(now_ns), utc_from_ns(now_ns), item.spans,
                     gap[:MAX_REASON_CHARS], utc_now()],
                )  # fmt: skip
            con.commit()
        except Exception:
            con.rollback()
            raise


def _ascii(text: str) -> str:
    """`text` safe for any column: non-ASCII escaped, so no lone surrogate reaches DuckDB."""
    return text if text.isascii() else text.encode("ascii", "backslashreplace").decode()
