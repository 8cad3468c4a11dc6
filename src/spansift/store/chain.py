"""Tamper evidence: every row written to the log is chained by hash, in write order.

Entries `seq` (1, 2, 3, ... with no gaps) each store a hash over the previous entry's
hash (64 zeros for the first) and the rows they cover. Since schema 7 an entry covers a
whole write batch (kind `batch`, see `batch.py`); logs written before keep their
per-row entries, whose `row_hash = sha256(prev_hash "\\n" canonical JSON of the row)`.
`verify` recomputes the chain from the rows as they are now and reports every row
that was changed, deleted or inserted, and any removed or reordered entry.

What this promises: any edit, deletion or insertion of a logged row, or of a
chain entry, is detected unless the editor also rewrites every later chain
entry. What it does not: someone who can write the database can rewrite the
whole chain consistently. A checkpoint (see `checkpoint.py`) stored elsewhere
closes that gap for everything written before it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from spansift.store import batch, documents
from spansift.store.batch import BATCH

if TYPE_CHECKING:
    import duckdb

GENESIS = "0" * 64
# Runs read-only SQL with parameters and returns rows: a local cursor or a running receiver.
Fetch = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
# Timestamps are hashed (and read back for verifying) as ISO text with microseconds.
_ISO = "%Y-%m-%dT%H:%M:%S.%f"
TIMESTAMP_COLUMNS = frozenset(
    {
        "occurred_at", "detected_at", "start_at", "end_at", "decided_at", "suppressed_until",
        "granted_at", "expires_at", "recorded_at", "until_at", "revoked_at",
    }
)  # fmt: skip
EXCEPTION, LINK = "exception", "link"
SPAN, TRACE = documents.SPAN, documents.TRACE  # a span row (schema 4-8), a trace's document
EVIDENCE = "evidence"  # schema 2-3: one row per (exception, span), now the evidence_spans view
DECISION, GRANT, GRANT_USE, SUSPENSION = "decision", "grant", "grant_use", "suspension"
CONTROLS, PATTERN_DECISION, REVOCATION = "controls", "pattern_decision", "revocation"
WITHDRAWAL = "withdrawal"  # schema 8: a row the current rules no longer produce (rederive)

# The columns each kind of row is hashed over, in this order.
TRACE_SPAN_COLUMNS: tuple[str, ...] = (
    "trace_id", "span_id", "parent_span_id", "name", "status", "start_at", "end_at", "span",
)  # fmt: skip
LINK_COLUMNS: tuple[str, ...] = ("exception_id", "trace_id")
EVIDENCE_COLUMNS = (
    "exception_id",
    "span_id",
    "trace_id",
    "parent_span_id",
    "name",
    "status",
    "start_at",
    "end_at",
    "offending",
    "span",
)


DECISION_COLUMNS = (
    "decision_id", "exception_id", "decided_at", "actor", "action", "status", "owner",
    "resolution", "follow_up", "note", "suppressed_until",
)  # fmt: skip
GRANT_COLUMNS = (
    "grant_id", "agent", "tool", "scope", "granted_at", "expires_at", "approvers",
    "justification",
)  # fmt: skip
GRANT_USE_COLUMNS = (
    "exception_id", "grant_id", "occurred_at", "recorded_at", "workflow", "agent", "tool",
    "exception_type", "rule_id", "trace_id", "span_id",
)  # fmt: skip
SUSPENSION_COLUMNS = (
    "suspension_id", "target_kind", "target", "action", "actor", "reason", "decided_at",
)  # fmt: skip
CONTROLS_COLUMNS = ("exception_id", "controls")
PATTERN_DECISION_COLUMNS = (
    "decision_id", "fingerprint", "decided_at", "actor", "action", "until_at", "resolution",
    "follow_up", "note",
)  # fmt: skip
REVOCATION_COLUMNS = ("revocation_id", "grant_id", "revoked_at", "actor", "reason")
WITHDRAWAL_COLUMNS = (
    "withdrawal_id", "exception_id", "decided_at", "action", "actor", "reason",
)  # fmt: skip
# Kinds whose rows are keyed by their first column alone: kind -> (table, columns).
SINGLE_KEY_KINDS = {
    DECISION: ("decisions", DECISION_COLUMNS),
    GRANT: ("grants", GRANT_COLUMNS),
    GRANT_USE: ("grant_uses", GRANT_USE_COLUMNS),
    SUSPENSION: ("suspensions", SUSPENSION_COLUMNS),
    CONTROLS: ("exception_controls", CONTROLS_COLUMNS),
    PATTERN_DECISION: ("pattern_decisions", PATTERN_DECISION_COLUMNS),
    REVOCATION: ("grant_revocations", REVOCATION_COLUMNS),
    WITHDRAWAL: ("withdrawals", WITHDRAWAL_COLUMNS),
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime(_ISO)
    if isinstance(value, date):
        return value.isoformat()
    return value


def canonical(row: Sequence[Any]) -> bytes:
    """The bytes a row is hashed over: a compact JSON array of its values."""
    return json.dumps([_plain(v) for v in row], separators=(",", ":"), ensure_ascii=False).encode()


def link(prev_hash: str, row: Sequence[Any]) -> str:
    """The chain hash of `row` written after an entry whose hash is `prev_hash`."""
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(row)).hexdigest()


def evidence_row_id(exception_id: str, span_id: str) -> str:
    return f"{exception_id}/{span_id}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One chain entry about to be written."""

    seq: int
    kind: str
    row_id: str
    prev_hash: str
    row_hash: str


def extend(head: tuple[int, str], rows: Iterable[tuple[str, str, Sequence[Any]]]) -> list[Entry]:
    """Per-row chain entries for `(kind, row_id, row)` after `head` = (seq, hash), as logs
    were chained before schema 7 (`verify` still checks them; new writes chain batches)."""
    seq, prev = head
    out: list[Entry] = []
    for kind, row_id, row in rows:
        seq += 1
        row_hash = link(prev, row)
        out.append(Entry(seq, kind, row_id, prev, row_hash))
        prev = row_hash
    return out


def head(con: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    """(seq, hash) of the last chain entry, or (0, GENESIS) for an empty log."""
    found = con.execute("SELECT seq, row_hash FROM log_chain ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(found[0]), str(found[1])) if found else (0, GENESIS)


@dataclass(frozen=True, slots=True)
class Finding:
    """One way the log differs from its chain."""

    problem: str  # changed, deleted, inserted, broken
    kind: str
    row_id: str
    seq: int | None
    detail: str

    def __str__(self) -> str:
        where = f"chain entry {self.seq}" if self.seq is not None else "no chain entry"
        return f"{self.problem}: {self.kind} {self.row_id} ({where}): {self.detail}"


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of `verify`: entries and rows checked, the head, and what differs."""

    entries: int
    head_seq: int
    head_hash: str
    findings: tuple[Finding, ...]
    rows: int = 0  # rows the entries cover (a batch entry covers many)

    @property
    def ok(self) -> bool:
        return not self.findings


def _select(columns: Sequence[str], table: str) -> str:
    parts = [f"strftime({c}, '{_ISO}') AS {c}" if c in TIMESTAMP_COLUMNS else c for c in columns]
    return f"SELECT {', '.join(parts)} FROM {table}"


def _stored_rows(
    fetch: Fetch,
    tables: set[str],
    exception_columns: Sequence[str],
    segments: Iterable[str],
    spans_chained: bool,
) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every chained row as stored now, keyed by (kind, chain row id); `segments` are the
    trace document segments the batches list (see `documents.stored_rows`)."""
    # Chained exception rows are the immutable base rows (`exceptions` is a view since v3).
    base = "exception_rows" if "exception_rows" in tables else "exceptions"
    rows: dict[tuple[str, str], tuple[Any, ...]] = {}
    for row in fetch(_select(exception_columns, base), []):
        rows[(EXCEPTION, str(row[0]))] = tuple(row)
    for kind, table, columns in (
        (SPAN, "trace_spans", TRACE_SPAN_COLUMNS),
        (LINK, "exception_traces", LINK_COLUMNS),
    ):
        if table in tables:
            for row in fetch(_select(columns, table), []):
                rows[(kind, pair_id(str(row[0]), str(row[1])))] = tuple(row)
    if documents.TABLE in tables:
        found = fetch(f"SELECT trace_id, spans FROM {documents.TABLE}", [])
        rows.update(documents.stored_rows(found, segments, spans_chained=spans_chained))
    for kind, (table, columns) in SINGLE_KEY_KINDS.items():
        if table in tables:
            for row in fetch(_select(columns, table), []):
                rows[(kind, str(row[0]))] = tuple(row)
    return rows


def _batch_findings(
    seq: int,
    row_id: str,
    prev_hash: str,
    row_hash: str,
    groups: list[batch.Listed] | None,
    rows: dict[tuple[str, str], tuple[Any, ...]],
    seen: set[tuple[str, str]],
) -> tuple[list[Finding], int]:
    """What differs in one batch entry, and how many rows it covers."""
    if groups is None:
        return [Finding("deleted", BATCH, row_id, seq, "log_batches does not list its rows")], 0
    found = batch.check(prev_hash, row_hash, groups, rows)
    seen.update(found.seen)
    out = [Finding("deleted", k, r, seq, "row is missing from the log") for k, r in found.deleted]
    for kind, ids in found.changed:
        where = ids[0] if len(ids) == 1 else f"{ids[0]} or another of its {len(ids)} rows"
        if found.hash_ok:
            out.append(Finding("broken", kind, where, seq, "log_batches digest was edited"))
        else:
            out.append(Finding("changed", kind, where, seq, "row differs from what was written"))
    if not found.hash_ok and not out:
        out.append(Finding("broken", BATCH, row_id, seq, "hash does not match the entry's rows"))
    return out, len(found.seen)


def verify(fetch: Fetch, exception_columns: Sequence[str]) -> Verification:
    """Recompute the chain against the rows as stored now."""
    tables = {
        str(r[0])
        for r in fetch(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary",
            [],
        )
    }
    batches: dict[int, list[batch.Listed] | None] = {}
    if "log_batches" in tables:
        for seq, groups in fetch("SELECT seq, groups FROM log_batches", []):
            batches[int(seq)] = batch.parse_groups(groups)
    listed = [(g[0], g[2]) for groups in batches.values() for g in groups or ()]
    segments = [row_id for kind, row_ids in listed if kind == TRACE for row_id in row_ids]
    spans_chained = any(kind == SPAN for kind, _ in listed) or bool(
        fetch("SELECT 1 FROM log_chain WHERE kind IN (?, ?) LIMIT 1", [SPAN, EVIDENCE])
    )
    rows = _stored_rows(fetch, tables, exception_columns, segments, spans_chained)
    legacy = _legacy_evidence(fetch)

    findings: list[Finding] = []
    expected_seq, prev, covered_rows = 1, GENESIS, 0
    seen: set[tuple[str, str]] = set()
    entries = fetch("SELECT seq, kind, row_id, prev_hash, row_hash FROM log_chain ORDER BY seq", [])
    for seq, kind, row_id, prev_hash, row_hash in entries:
        if seq != expected_seq:
            findings.append(
                Finding(
                    "broken", kind, row_id, seq, f"chain jumps from {expected_seq - 1} to {seq}"
                )
            )
        elif prev_hash != prev:
            findings.append(
                Finding(
                    "broken", kind, row_id, seq, "previous hash does not match the entry before"
                )
            )
        expected_seq, prev = seq + 1, row_hash
        if kind == BATCH:
            found, count = _batch_findings(
                seq, row_id, prev_hash, row_hash, batches.get(int(seq)), rows, seen
            )
            findings.extend(found)
            covered_rows += count
            continue
        key = (str(kind), str(row_id))
        seen.add(key)
        covered_rows += 1
        stored = legacy.get(key) if kind == EVIDENCE else rows.get(key)
        if stored is None:
            findings.append(Finding("deleted", kind, row_id, seq, "row is missing from the log"))
        elif link(prev_hash, stored) != row_hash:
            findings.append(
                Finding("changed", kind, row_id, seq, "row differs from what was written")
            )
    covered = {k for key, row in legacy.items() if key in seen for k in _legacy_keys(row)}
    for key in sorted(rows.keys() - seen - covered):
        findings.append(Finding("inserted", key[0], key[1], None, "row was never chained"))
    last_seq, last_hash = (entries[-1][0], entries[-1][4]) if entries else (0, GENESIS)
    return Verification(len(entries), int(last_seq), str(last_hash), tuple(findings), covered_rows)


def pair_id(first: str, second: str) -> str:
    """The chain row id of a row keyed by two values (a trace span, an exception's trace)."""
    return f"{first}/{second}"


def _legacy_evidence(fetch: Fetch) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Rows of the `evidence_spans` view, for chain entries written before schema 4."""
    legacy: dict[tuple[str, str], tuple[Any, ...]] = {}
    if not fetch("SELECT 1 FROM log_chain WHERE kind = ? LIMIT 1", [EVIDENCE]):
        return legacy
    for row in fetch(_select(EVIDENCE_COLUMNS, "evidence_spans"), []):
        legacy[(EVIDENCE, evidence_row_id(str(row[0]), str(row[1])))] = tuple(row)
    return legacy


def _legacy_keys(row: tuple[Any, ...]) -> tuple[tuple[str, str], ...]:
    """The span and link rows a pre-schema-4 evidence row was migrated into."""
    exception_id, span_id, trace_id = str(row[0]), str(row[1]), str(row[2])
    return ((SPAN, pair_id(trace_id, span_id)), (LINK, pair_id(exception_id, trace_id)))


def hash_at(fetch: Fetch, seq: int) -> str | None:
    """The chain hash at entry `seq`, or None when the chain is shorter."""
    found = fetch("SELECT row_hash FROM log_chain WHERE seq = ?", [seq])
    return str(found[0][0]) if found else None
