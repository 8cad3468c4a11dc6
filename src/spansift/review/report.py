"""The review: what happened in a window, gathered from the log into plain tables.

`build_review(fetch, since)` runs read-only SQL through `fetch` (a local cursor or a
running receiver) and returns a `Review`: the patterns in triage order (`triage.py`),
titled tables in a fixed order, and one autonomy `Signal` per workflow (`autonomy.py`:
the rate of runs with exceptions against the workflow's traffic). Renderers
(`render.py`, `html.py`) only format. Owners are the ones the rows were written with
(routing happens at write time), so the review, `ls` and the page agree.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from spansift.review.autonomy import SIGNAL_COLUMNS, THRESHOLD, Signal, signal_row, signals
from spansift.review.triage import (
    METRIC_COLUMNS,
    PATTERN_COLUMNS,
    Pattern,
    duration,
    metric_rows,
    pattern_row,
    patterns,
)
from spansift.store.rows import utc_now

Fetch = Callable[[str, Sequence[Any]], tuple[tuple[str, ...], list[tuple[Any, ...]]]]
BY = ("workflow", "control")
ESCALATION_TYPES = ("human_override", "rollback", "approval_escalated", "handoff_to_human")
UNRESOLVED = ("open", "regressed", "acknowledged")
LIST_LIMIT = 20
PATTERN_LIMIT = 30

_ROWS_SQL = """
SELECT e.exception_id, e.occurred_at, coalesce(e.workflow, '(none)') AS workflow,
       e.exception_type, e.severity, e.rule_id, e.agent, e.tool, e.summary, e.status,
       e.owner, e.trace_id, e.controls
FROM exceptions e
WHERE e.occurred_at >= ? AND e.occurred_at < ?
ORDER BY e.occurred_at
"""
_DECISIONS_SQL = """
SELECT d.action, d.follow_up, coalesce(r.workflow, '(none)'), d.decided_at
FROM decisions d JOIN exception_rows r USING (exception_id)
WHERE d.decided_at >= ? AND d.decided_at < ?
"""
_RUNS_SQL = "SELECT workflow, day, runs FROM workflow_runs WHERE day >= ?::DATE AND day <= ?::DATE"
_GAPS_SQL = """
SELECT count(*), coalesce(sum(lost_spans), 0) FROM evidence_gaps WHERE last_at >= ? AND first_at < ?
"""
_SUSPENDED_SQL = """
SELECT target_kind, target, actor, reason, decided_at FROM suspensions
QUALIFY row_number() OVER (PARTITION BY target_kind, target
                           ORDER BY decided_at DESC, suspension_id DESC) = 1
    AND action = 'suspend'
ORDER BY decided_at
"""


@dataclass(frozen=True, slots=True)
class Table:
    """One section of the review."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Review:
    """Everything a review shows, in order."""

    since: datetime
    until: datetime
    totals: tuple[tuple[str, Any], ...]
    tables: tuple[Table, ...]
    signals: tuple[Signal, ...]
    patterns: tuple[Pattern, ...] = ()

    def table(self, title: str) -> Table:
        return next(t for t in self.tables if t.title == title)


def build_review(
    fetch: Fetch, since: timedelta, now: datetime | None = None, by: str = "workflow"
) -> Review:
    """Gather the review of the window `since` before `now` (UTC; a past `now` ends the window
    there); `by` workflow or control."""
    until = now or utc_now()
    start = until - since
    columns, raw = fetch(_ROWS_SQL, [start, until])
    rows = [dict(zip(columns, r, strict=True)) for r in raw]
    _, decisions = fetch(_DECISIONS_SQL, [start, until])
    found = patterns(fetch, start, until)
    shown = tuple(pattern_row(p) for p in found[:PATTERN_LIMIT])
    more = len(found) - PATTERN_LIMIT
    note = f"{more} more patterns not shown" if more > 0 else ""
    tables = [
        Table("Patterns (triage order)", PATTERN_COLUMNS, shown, note),
        _by_control(rows) if by == "control" else _by_workflow(rows),
        _unowned(rows),
        _unresolved(rows, until),
        _escalations(rows),
        _follow_ups(decisions),
    ]
    controls: Counter[str] = Counter()
    for action, follow_up, workflow, _ in decisions:
        if action == "resolve" and follow_up not in (None, "none"):
            controls[workflow] += 1
    hit_traces: dict[tuple[str, str], datetime] = {}
    for row in rows:
        hit_traces.setdefault((row["workflow"], row["trace_id"]), row["occurred_at"])
    _, runs = fetch(_RUNS_SQL, [start, until])
    found_signals = signals(
        [(w, t, when) for (w, t), when in hit_traces.items()], runs, controls, start, until
    )
    signal_rows = tuple(signal_row(s) for s in found_signals)
    tables.append(Table("Autonomy signal", SIGNAL_COLUMNS, signal_rows, THRESHOLD))
    metrics = metric_rows(fetch, start)
    tables.append(Table("Incident metrics (medians)", METRIC_COLUMNS, metrics, _METRICS_NOTE))
    _, gaps = fetch(_GAPS_SQL, [start, until])
    _, suspended = fetch(_SUSPENDED_SQL, [])
    tables.append(Table("Suspended", ("kind", "target", "by", "reason", "since"), tuple(suspended)))
    opened = sum(1 for r in rows if r["status"] in ("open", "regressed"))
    totals = (
        ("exceptions", len(rows)),
        ("open", opened),
        ("unowned", sum(1 for r in rows if r["owner"] is None)),
        ("decisions", len(decisions)),
        ("evidence gaps", gaps[0][0]),
        ("spans lost", int(gaps[0][1])),
    )
    return Review(start, until, totals, tuple(tables), found_signals, tuple(found))


_METRICS_NOTE = (
    "detect: span end to row written; ack, resolve: row written to the first such decision; "
    "contain: occurrence to the first suspension of its agent or workflow, or its resolution; "
    "affected records: distinct targets (spansift.tool.target, else spansift.gate.scope) of "
    "failed or refused tool calls"
)


def _by_control(rows: Sequence[dict[str, Any]]) -> Table:
    counts: Counter[str] = Counter()
    opened: Counter[str] = Counter()
    high: Counter[str] = Counter()
    types: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        for control in row["controls"] or ("(none)",):
            counts[control] += 1
            opened[control] += row["status"] in ("open", "regressed")
            high[control] += row["severity"] in ("high", "critical")
            types[control].add(row["exception_type"])
    return Table(
        "By control",
        ("control", "exceptions", "open", "high+", "types"),
        tuple(
            (c, counts[c], opened[c], high[c], ", ".join(sorted(types[c])))
            for c in sorted(counts, key=lambda c: (c == "(none)", -counts[c], c))
        ),
        "controls a row evidences come from its rule's `controls:` (docs/controls.md)",
    )


def _by_workflow(rows: Sequence[dict[str, Any]]) -> Table:
    counts: Counter[tuple[str, str]] = Counter()
    opened: Counter[tuple[str, str]] = Counter()
    high: Counter[tuple[str, str]] = Counter()
    for row in rows:
        key = (row["workflow"], row["exception_type"])
        counts[key] += 1
        opened[key] += row["status"] in ("open", "regressed")
        high[key] += row["severity"] in ("high", "critical")
    ordered = sorted(counts, key=lambda k: (-counts[k], k))
    return Table(
        "By workflow and type",
        ("workflow", "type", "exceptions", "open", "high+"),
        tuple((w, t, counts[(w, t)], opened[(w, t)], high[(w, t)]) for w, t in ordered),
    )


def _listing(rows: Sequence[dict[str, Any]], extra: str) -> tuple[tuple[Any, ...], ...]:
    return tuple(
        (r["exception_id"][:12], f"{r['occurred_at']:%Y-%m-%d %H:%M}", r["workflow"],
         r["exception_type"], r["tool"] or r["agent"], r[extra])
        for r in rows[-LIST_LIMIT:][::-1]
    )  # fmt: skip


def _unowned(rows: Sequence[dict[str, Any]]) -> Table:
    found = [r for r in rows if r["owner"] is None]
    note = f"{len(found)} rows have no owner; add an owners rule or a contract owner"
    return Table(
        "Unowned",
        ("id", "when", "workflow", "type", "subject", "status"),
        _listing(found, "status"),
        note if found else "",
    )


def _unresolved(rows: Sequence[dict[str, Any]], until: datetime) -> Table:
    per: dict[str, Counter[str]] = defaultdict(Counter)
    oldest: dict[str, datetime] = {}
    for row in rows:
        if row["status"] in UNRESOLVED:
            owner = row["owner"] or "(unowned)"
            per[owner][row["status"]] += 1
            oldest.setdefault(owner, row["occurred_at"])
    return Table(
        "Unresolved by owner",
        ("owner", "open", "regressed", "acknowledged", "oldest open for"),
        tuple(
            (owner, c["open"], c["regressed"], c["acknowledged"], _age(until, oldest[owner]))
            for owner, c in sorted(per.items(), key=lambda kv: -sum(kv[1].values()))
        ),
    )


def _age(until: datetime, since: datetime) -> str:
    return duration((until - since).total_seconds())


def _escalations(rows: Sequence[dict[str, Any]]) -> Table:
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        if row["exception_type"] in ESCALATION_TYPES:
            per[row["workflow"]][row["exception_type"]] += 1
    return Table(
        "Overrides, rollbacks, escalations",
        ("workflow", *ESCALATION_TYPES),
        tuple((w, *(c[t] for t in ESCALATION_TYPES)) for w, c in sorted(per.items())),
    )


def _follow_ups(decisions: Sequence[tuple[Any, ...]]) -> Table:
    per: Counter[tuple[str, str]] = Counter()
    for action, follow_up, workflow, _ in decisions:
        if follow_up is not None:
            per[(follow_up, workflow)] += 1
        elif action == "resolve":
            per[("(none given)", workflow)] += 1
    return Table(
        "Follow-ups decided",
        ("follow_up", "workflow", "decisions"),
        tuple((f, w, n) for (f, w), n in sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))),
    )
