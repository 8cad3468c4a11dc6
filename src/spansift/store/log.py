"""The exception log in DuckDB: idempotent, batched writes and plain SQL reads.

One `ExceptionLog` owns one DuckDB connection and must be used from one thread at
a time (the in-process processor and the receiver give it a dedicated writer
thread). DuckDB allows a single writing process per file; readers in other
processes go through the receiver's query endpoint or a Parquet export.
"""

from __future__ import annotations

import hashlib
import operator
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from spansift.decide.stage import Controls, Decision, decide
from spansift.errors import SpansiftError
from spansift.evidence import span_json
from spansift.model import Hit, Span
from spansift.store import batch, chain, documents, run_states, staging
from spansift.store.events import EXCEPTIONS, Listener, tell
from spansift.store.migrations import migrate
from spansift.store.rows import COLUMN_NAMES, hit_id, utc_from_ns, utc_now
from spansift.store.run_states import RunState

DEFAULT_DB = "spansift.duckdb"
BASE_TABLE = "exception_rows"  # what `write` appends to; `exceptions` is a view over it
_REFRESH_S = 1.0  # how often `write` re-reads grants and suspensions on the writer's thread
_TRACE_ID = operator.attrgetter("trace_id")
_NOT_REVOKED = " AND grant_id NOT IN (SELECT grant_id FROM grant_revocations)"


def _group(kind: str, rows: Iterable[tuple[str, Sequence[Any]]]) -> batch.Group:
    """The rows of one kind a batch chains, from (chain row id, row) pairs."""
    pairs = list(rows)
    return batch.Group(kind, tuple(k for k, _ in pairs), tuple(v for _, v in pairs))


class ExceptionLog:
    """A DuckDB file holding the exception log; opening it applies pending migrations."""

    def __init__(self, path: str | Path = DEFAULT_DB, *, read_only: bool = False) -> None:
        self.path = str(path)
        created = self.path != ":memory:" and not os.path.exists(self.path)
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as exc:
            msg = f"cannot open database {self.path}: {exc}"
            raise SpansiftError(msg) from exc
        if created:
            os.chmod(self.path, 0o600)  # the log is evidence; keep it private by default
        self.con.execute("SET TimeZone = 'UTC'")
        self.schema_version = 0 if read_only else migrate(self.con)
        self._staged = False
        self._head = chain.head(self.con) if not read_only else (0, chain.GENESIS)
        # Serializes every chained write: the worker's `write` and decisions, grants and
        # suspensions arriving on other threads (the receiver's HTTP handlers).
        self.lock = threading.RLock()
        self.controls = Controls()  # live grants, their uses and suspensions (see `refresh`)
        self._refreshed = 0.0
        # Called after each committed write with the new rows (see `store.events`).
        self.listeners: list[Listener] = []
        # Owner routing applied as a row is written, so every view shows the same owner:
        # the row's fields in, an owner (or None to keep the rule's or contract's) out.
        self.route_owner: Callable[[Mapping[str, Any]], str | None] | None = None
        if not read_only:
            self.refresh()

    def write(self, hits: Sequence[Hit], run_state: RunState | None = None) -> int:
        """Insert the rows of `hits` and their evidence spans in one transaction.

        `run_state` (from `Pipeline.take_run_state`) is saved in the same transaction, so
        the runs a restart must remember never lag behind the rows written.

        Rows already in the log are skipped (their evidence may still grow). Every new
        row is appended to the hash chain in the same transaction. What to write is
        decided first, by the pure `spansift.decide` stage: a hit covered by a live
        approval grant is recorded in `grant_uses` instead, and a new row whose rule says
        `contain: agent|workflow` suspends that agent or workflow (a chained
        `suspensions` row). Returns how many exception rows were new.
        """
        with self.lock:
            if time.monotonic() - self._refreshed > _REFRESH_S:
                self.refresh()
            saving = run_state is not None and bool(run_state[0] or run_state[1])
            if not hits:
                if saving:
                    self._in_transaction(lambda: self._save_run_state(run_state))
                return 0
            new_rows, decision = self._write(hits, run_state if saving else None)
            contain = [row for row_id, row in decision.suspensions if (row_id,) in new_rows]
            if contain:
                self.append(chain.SUSPENSION, "suspensions", contain)
            return len(new_rows)

    def _in_transaction(self, work: Callable[[], None]) -> None:
        con = self.con
        con.begin()
        try:
            work()
            con.commit()
        except Exception:
            con.rollback()
            raise

    def _save_run_state(self, run_state: RunState | None) -> None:
        if run_state is not None and self.schema_version >= run_states.SINCE:
            run_states.save(self.con, run_state)

    def load_run_state(self) -> list[tuple[str, str, str]]:
        """The runs a previous process left open: (run key, trace id, records as text)."""
        return run_states.load(self.con) if self.schema_version >= run_states.SINCE else []

    def _write(
        self, hits: Sequence[Hit], run_state: RunState | None = None
    ) -> tuple[set[tuple[Any, ...]], Decision]:
        if not self._staged:
            staging.create(self.con)
            self._staged = True
        detected_at = utc_now()
        texts: dict[str, str] = {}  # each span's JSON built once
        docs: dict[str, dict[str, str]] = {}  # trace id -> span id -> document element
        links: dict[str, tuple[str, str]] = {}

        def span_text(span: Span) -> str:
            key = chain.pair_id(span.trace_id, span.span_id)
            found = texts.get(key)
            if found is None:
                found = texts[key] = span_json(span)
            return found

        # The offending span's JSON serves its row's `evidence` and its trace's document.
        decision = decide(
            hits,
            self.controls,
            detected_at,
            route_owner=self.route_owner,
            span_json=span_text,
        )
        rows, controls = decision.rows, decision.controls
        # Hits of one trace share its Span objects: each is taken once, and a hit whose
        # spans are all taken costs a few set operations, not a loop over its trace.
        taken: set[int] = set()
        for hit in hits:
            row_id = hit_id(hit)
            if row_id in decision.covered:
                continue
            held = (hit.span, *hit.context)
            by_id = dict(zip(map(id, held), held, strict=True))
            if not taken.issuperset(by_id):
                for key, span in by_id.items():
                    if key not in taken:
                        taken.add(key)
                        doc = docs.setdefault(span.trace_id, {})
                        if span.span_id not in doc:
                            doc[span.span_id] = documents.element(span, span_text(span))
            for trace_id in dict.fromkeys(map(_TRACE_ID, held)):
                links.setdefault(chain.pair_id(row_id, trace_id), (row_id, trace_id))
        uses = decision.uses
        con = self.con
        con.begin()
        try:
            new_rows = staging.insert(
                con, BASE_TABLE, "staged_exceptions", rows.values(), "exception_id"
            )
            segments = documents.write(con, docs)
            new_links = staging.insert(
                con, "exception_traces", "staged_links", links.values(), "exception_id, trace_id"
            )
            new_uses = [u for u in uses if self._insert_one("grant_uses", u)]
            fresh_controls = [c for k, c in controls.items() if (k,) in new_rows]
            added = staging.insert(
                con, "exception_controls", "staged_controls", fresh_controls, "exception_id"
            )
            new_controls = [c for c in fresh_controls if (c[0],) in added]
            entry = batch.extend(
                self._head,
                [
                    _group(chain.EXCEPTION, ((k, v) for k, v in rows.items() if (k,) in new_rows)),
                    _group(chain.CONTROLS, ((c[0], c) for c in new_controls)),
                    batch.Group(
                        documents.TRACE,
                        tuple(documents.segment_id(t, first) for t, first, _ in segments),
                        (),
                        tuple(map(documents.encoded_segment, segments)),
                    ),
                    _group(chain.LINK, ((k, v) for k, v in links.items() if v in new_links)),
                    _group(chain.GRANT_USE, ((u[0], u) for u in new_uses)),
                ],
            )
            self._chain(entry, detected_at)
            self._save_run_state(run_state)
            con.commit()
        except Exception:
            con.rollback()
            raise
        if entry is not None:
            self._head = (entry.seq, entry.row_hash)
        self.controls = replace(self.controls, uses=decision.use_counts)
        if self.listeners:
            written = [
                {
                    **dict(zip(COLUMN_NAMES, v, strict=True)),
                    "controls": controls.get(k, ("", []))[1],
                }
                for k, v in rows.items()
                if (k,) in new_rows
            ]
            tell(self.listeners, EXCEPTIONS, written)
        return new_rows, decision

    def _insert_one(self, table: str, row: Sequence[Any]) -> bool:
        marks = ", ".join("?" * len(row))
        found = self.con.execute(
            f"INSERT INTO {table} VALUES ({marks}) ON CONFLICT DO NOTHING RETURNING 1", list(row)
        ).fetchall()
        return bool(found)

    def append(self, kind: str, table: str, rows: Sequence[Sequence[Any]]) -> int:
        """Append rows of `table` (keyed by their first value) and chain them as `kind`.

        Rows whose key is already present are skipped. One transaction, under `lock`,
        so the chain keeps a single writer. Returns how many rows were new.
        """
        with self.lock:
            con = self.con
            con.begin()
            try:
                new = [row for row in rows if self._insert_one(table, row)]
                entry = batch.extend(self._head, [_group(kind, ((str(r[0]), r) for r in new))])
                self._chain(entry, utc_now())
                con.commit()
            except Exception:
                con.rollback()
                raise
            if entry is not None:
                self._head = (entry.seq, entry.row_hash)
            self.refresh()
            columns = chain.SINGLE_KEY_KINDS.get(kind, ("", ()))[1]
            if columns:
                tell(self.listeners, kind, [dict(zip(columns, r, strict=True)) for r in new])
            return len(new)

    def _chain(self, entry: batch.BatchEntry | None, at: datetime) -> None:
        """Write a batch's chain entry and the list of its rows (in the open transaction)."""
        if entry is None:
            return
        self.con.execute(
            "INSERT INTO log_chain VALUES (?, ?, ?, ?, ?, ?)",
            [entry.seq, batch.BATCH, entry.row_id, entry.prev_hash, entry.row_hash, at],
        )
        self.con.execute("INSERT INTO log_batches VALUES (?, ?)", [entry.seq, entry.groups])

    def is_suspended(self, agent: str | None, workflow: str | None = None) -> bool:
        """Whether the agent or workflow is suspended, from the cached set (no I/O)."""
        suspended = self.controls.suspended
        return ("agent", agent) in suspended or ("workflow", workflow) in suspended

    def refresh(self) -> None:
        """Re-read live grants and suspensions into memory (on the writer's thread)."""
        with self.lock:
            self._refreshed = time.monotonic()
            if self.schema_version < 3:
                return
            now = utc_now()
            grants = tuple(
                self.con.execute(
                    f"SELECT {', '.join(chain.GRANT_COLUMNS)} FROM grants WHERE expires_at > ?"
                    + _NOT_REVOKED * (self.schema_version >= 6),
                    [now - timedelta(days=1)],  # late spans may still fall inside a grant
                ).fetchall()
            )
            uses = {
                str(g): int(n)
                for g, n in self.con.execute(
                    "SELECT grant_id, count(*) FROM grant_uses GROUP BY 1"
                ).fetchall()
            }
            suspended = frozenset(
                (str(kind), str(target))
                for kind, target in self.con.execute(
                    "SELECT target_kind, target FROM suspensions QUALIFY row_number() OVER "
                    "(PARTITION BY target_kind, target ORDER BY decided_at DESC, "
                    "suspension_id DESC) = 1 AND action = 'suspend'"
                ).fetchall()
            )
            self.controls = Controls(grants, uses, suspended)

    def set_fingerprints(self, rules: Mapping[str, Sequence[str]]) -> None:
        """Replace the fields each rule fingerprints its patterns by (`{rule id: [field]}`)."""
        with self.lock:
            self.con.execute("DELETE FROM rule_fingerprints")
            for rule_id, fields in rules.items():
                self.con.execute(
                    "INSERT INTO rule_fingerprints VALUES (?, ?)", [rule_id, list(fields)]
                )

    def verify(self) -> chain.Verification:
        """Recompute the hash chain against the rows as stored now."""
        return chain.verify(lambda sql, params: self.query(sql, params)[1], COLUMN_NAMES)

    def record_runs(self, counts: Mapping[tuple[date, str], int]) -> None:
        """Add runs seen per (UTC day, workflow): the traffic that exception rates divide by."""
        if not counts:
            return
        with self.lock:
            self.con.executemany(
                "INSERT INTO workflow_runs VALUES (?, ?, ?) ON CONFLICT (day, workflow) "
                "DO UPDATE SET runs = workflow_runs.runs + excluded.runs",
                [(day, workflow, n) for (day, workflow), n in counts.items()],
            )

    def record_losses(self, source: str, losses: tuple[str, int] | None) -> None:
        """Record what trace assembly gave up (see `Pipeline.take_losses`), if anything."""
        if losses is not None:
            now = time.time_ns()
            self.record_gap(source, now, now, losses[1], losses[0])

    def record_gap(
        self, source: str, first_ns: int, last_ns: int, lost_spans: int, reason: str
    ) -> None:
        """Record that `lost_spans` spans between two times never reached the rules."""
        gap_id = hashlib.sha256(f"{source}\x1f{first_ns}\x1f{reason}".encode()).hexdigest()[:32]
        with self.lock:
            self._record_gap(gap_id, source, first_ns, last_ns, lost_spans, reason)

    def _record_gap(
        self, gap_id: str, source: str, first_ns: int, last_ns: int, lost_spans: int, reason: str
    ) -> None:
        self.con.execute(
            "INSERT INTO evidence_gaps VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (gap_id) DO UPDATE SET last_at = excluded.last_at, "
            "lost_spans = excluded.lost_spans, recorded_at = excluded.recorded_at",
            [
                gap_id,
                source,
                utc_from_ns(first_ns),
                utc_from_ns(last_ns),
                lost_spans,
                reason,
                utc_now(),
            ],
        )

    def query(
        self, sql: str, params: Sequence[Any] | None = None
    ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """Run SQL and return column names and rows."""
        with self.lock:
            cursor = self.con.execute(sql, params or [])
            columns = tuple(d[0] for d in cursor.description or ())
            return columns, cursor.fetchall()

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file."""
        self.con.execute("CHECKPOINT")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> ExceptionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
