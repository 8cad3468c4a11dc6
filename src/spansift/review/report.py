"""The review: what happened in a window, gathered from the log into plain tables.

`build_review(fetch, since, owners)` runs read-only SQL through `fetch` (a local
cursor or a running receiver) and returns a `Review`: titled tables in a fixed
order plus one `Signal` per workflow. Renderers (`render.py`, `html.py`) only format.

The autonomy signal compares, per workflow, the severity points of exceptions in
the first and the second half of the window with the controls added in it
(resolutions whose follow-up is not `none`). It is flagged when the points grew
by more than the number of controls added: the agent is crossing boundaries
faster than the team turns them into controls.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from spansift.review.owners import OwnerRule, owner_of
from spansift.store.rows import utc_now

Fetch = Callable[[str, Sequence[Any]], tuple[tuple[str, ...], list[tuple[Any, ...]]]]
SEVERITY_POINTS = {"info": 0, "low": 1, "medium": 2, "high": 4, "critical": 8}
ESCALATION_TYPES = ("human_override", "rollback", "approval_escalated", "handoff_to_human")
UNRESOLVED = ("open", "regressed", "acknowledged")
LIST_LIMIT = 20
PATTERN_LIMIT = 30

_ROWS_SQL = """
SELECT e.exception_id, e.occurred_at, coalesce(e.workflow, '(none)') AS workflow,
       e.exception_type, e.severity, e.rule_id, e.agent, e.tool, e.summary, e.status,
       r.owner, d.assigned_owner
FROM exceptions e
JOIN exception_rows r USING (exception_id)
LEFT JOIN latest_decisions d USING (exception_id)
WHERE e.occurred_at >= ? AND e.occurred_at < ?
ORDER BY e.occurred_at
"""
_PATTERNS_SQL = """
SELECT CASE WHEN regressed > 0 THEN 'regressed' WHEN first_seen >= ? THEN 'new'
            ELSE 'ongoing' END AS state,
       "type", workflow, subject, exceptions, open, first_seen, last_seen, latest_id,
       latest_summary
FROM exception_pattern_view WHERE last_seen >= ? AND first_seen < ?
ORDER BY (state = 'ongoing'), open DESC, exceptions DESC, last_seen DESC
"""
_DECISIONS_SQL = """
SELECT d.action, d.follow_up, coalesce(r.workflow, '(none)'), d.decided_at
FROM decisions d JOIN exception_rows r USING (exception_id)
WHERE d.decided_at >= ? AND d.decided_at < ?
"""
_GAPS_SQL = """
SELECT count(*), coalesce(sum(lost_spans), 0) FROM evidence_gaps WHERE last_at >= ? AND first_at < ?
"""
_METRICS_SQL = """
SELECT coalesce(m.workflow, '(none)') AS workflow, count(*) AS exceptions,
       round(median(m.detect_s), 1) AS detect_s, round(median(m.ack_s), 1) AS ack_s,
       round(median(m.resolve_s), 1) AS resolve_s,
       count(*) FILTER (WHERE m."type" = 'approval_bypassed') AS review_bypasses
FROM incident_metrics m JOIN exceptions e USING (exception_id)
WHERE e.occurred_at >= ? AND e.occurred_at < ? GROUP BY ALL ORDER BY exceptions DESC, workflow
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
class Signal:
    """The autonomy signal of one workflow over the window."""

    workflow: str
    buckets: tuple[str, ...]  # bucket labels
    points: tuple[int, ...]  # severity points per bucket
    controls: tuple[int, ...]  # controls added per bucket
    first_half: int
    second_half: int
    controls_added: int

    @property
    def growth(self) -> int:
        return self.second_half - self.first_half

    @property
    def flagged(self) -> bool:
        return self.growth > self.controls_added


@dataclass(frozen=True, slots=True)
class Review:
    """Everything a review shows, in order."""

    since: datetime
    until: datetime
    totals: tuple[tuple[str, Any], ...]
    tables: tuple[Table, ...]
    signals: tuple[Signal, ...]

    def table(self, title: str) -> Table:
        return next(t for t in self.tables if t.title == title)


def _buckets(since: datetime, until: datetime) -> tuple[list[datetime], str]:
    span = until - since
    days = span / timedelta(days=1)
    if days >= 2:
        count, fmt = min(math.ceil(days), 31), "%m-%d"
    else:
        count, fmt = max(2, min(math.ceil(span / timedelta(hours=1)), 24)), "%H:%M"
    width = span / count
    return [since + width * i for i in range(count)], fmt


def _index(starts: Sequence[datetime], when: datetime) -> int:
    for i in range(len(starts) - 1, -1, -1):
        if when >= starts[i]:
            return i
    return 0


def _signals(
    rows: Sequence[dict[str, Any]],
    decisions: Sequence[tuple[Any, ...]],
    since: datetime,
    until: datetime,
) -> tuple[Signal, ...]:
    starts, fmt = _buckets(since, until)
    points: dict[str, list[int]] = defaultdict(lambda: [0] * len(starts))
    controls: dict[str, list[int]] = defaultdict(lambda: [0] * len(starts))
    for row in rows:
        points[row["workflow"]][_index(starts, row["occurred_at"])] += SEVERITY_POINTS.get(
            row["severity"], 1
        )
    for action, follow_up, workflow, decided_at in decisions:
        if action == "resolve" and follow_up not in (None, "none"):
            controls[workflow][_index(starts, decided_at)] += 1
    middle = since + (until - since) / 2
    out = []
    for workflow in sorted(set(points) | set(controls)):
        first = sum(
            SEVERITY_POINTS.get(r["severity"], 1)
            for r in rows
            if r["workflow"] == workflow and r["occurred_at"] < middle
        )
        second = sum(points[workflow]) - first
        out.append(
            Signal(
                workflow,
                tuple(s.strftime(fmt) for s in starts),
                tuple(points[workflow]),
                tuple(controls[workflow]),
                first,
                second,
                sum(controls[workflow]),
            )
        )
    return tuple(out)


def build_review(
    fetch: Fetch, since: timedelta, owners: Sequence[OwnerRule] = (), now: datetime | None = None
) -> Review:
    """Gather the review of the window `since` before `now` (UTC; a past `now` ends the window
    there)."""
    until = now or utc_now()
    start = until - since
    columns, raw = fetch(_ROWS_SQL, [start, until])
    rows = [dict(zip(columns, r, strict=True)) for r in raw]
    for row in rows:
        row["effective_owner"] = owner_of(owners, row, row["assigned_owner"])
    _, decisions = fetch(_DECISIONS_SQL, [start, until])
    tables = [
        _by_workflow(rows),
        _patterns(fetch, start, until),
        _unowned(rows),
        _unresolved(rows),
        _escalations(rows),
        _follow_ups(decisions),
    ]
    signals = _signals(rows, decisions, start, until)
    tables.append(
        Table(
            "Autonomy signal",
            ("workflow", "points 1st half", "points 2nd half", "growth", "controls added", "flag"),
            tuple(_signal_row(s) for s in signals),
            "points: info 0, low 1, medium 2, high 4, critical 8; flagged when the growth "
            "exceeds the controls added (resolutions with a follow-up other than none)",
        )
    )
    mcols, metrics = fetch(_METRICS_SQL, [start, until])
    tables.append(Table("Incident metrics (medians, seconds)", mcols, tuple(metrics)))
    _, gaps = fetch(_GAPS_SQL, [start, until])
    _, suspended = fetch(_SUSPENDED_SQL, [])
    tables.append(Table("Suspended", ("kind", "target", "by", "reason", "since"), tuple(suspended)))
    opened = sum(1 for r in rows if r["status"] in ("open", "regressed"))
    totals = (
        ("exceptions", len(rows)),
        ("open", opened),
        ("unowned", sum(1 for r in rows if r["effective_owner"] is None)),
        ("decisions", len(decisions)),
        ("evidence gaps", gaps[0][0]),
        ("spans lost", int(gaps[0][1])),
    )
    return Review(start, until, totals, tuple(tables), signals)


def _signal_row(s: Signal) -> tuple[Any, ...]:
    flag = "EXCEPTIONS OUTPACE CONTROLS" if s.flagged else "ok"
    return (s.workflow, s.first_half, s.second_half, s.growth, s.controls_added, flag)


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


def _patterns(fetch: Fetch, start: datetime, until: datetime) -> Table:
    columns, rows = fetch(_PATTERNS_SQL, [start, start, until])
    shown = tuple(
        tuple(f"{v:%Y-%m-%d %H:%M}" if isinstance(v, datetime) else v for v in r)
        for r in rows[:PATTERN_LIMIT]
    )
    note = (
        f"{len(rows) - PATTERN_LIMIT} more patterns not shown" if len(rows) > PATTERN_LIMIT else ""
    )
    return Table("Patterns", columns, shown, note)


def _listing(rows: Sequence[dict[str, Any]], extra: str) -> tuple[tuple[Any, ...], ...]:
    return tuple(
        (r["exception_id"][:12], f"{r['occurred_at']:%Y-%m-%d %H:%M}", r["workflow"],
         r["exception_type"], r["tool"] or r["agent"], r[extra])
        for r in rows[-LIST_LIMIT:][::-1]
    )  # fmt: skip


def _unowned(rows: Sequence[dict[str, Any]]) -> Table:
    found = [r for r in rows if r["effective_owner"] is None]
    note = f"{len(found)} rows have no owner; add an owners rule or a contract owner"
    return Table(
        "Unowned",
        ("id", "when", "workflow", "type", "subject", "status"),
        _listing(found, "status"),
        note if found else "",
    )


def _unresolved(rows: Sequence[dict[str, Any]]) -> Table:
    per: dict[str, Counter[str]] = defaultdict(Counter)
    oldest: dict[str, datetime] = {}
    for row in rows:
        if row["status"] in UNRESOLVED:
            owner = row["effective_owner"] or "(unowned)"
            per[owner][row["status"]] += 1
            oldest.setdefault(owner, row["occurred_at"])
    return Table(
        "Unresolved by owner",
        ("owner", "open", "regressed", "acknowledged", "oldest"),
        tuple(
            (owner, c["open"], c["regressed"], c["acknowledged"], f"{oldest[owner]:%Y-%m-%d %H:%M}")
            for owner, c in sorted(per.items(), key=lambda kv: -sum(kv[1].values()))
        ),
    )


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
