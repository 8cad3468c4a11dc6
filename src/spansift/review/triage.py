"""Patterns in triage order, incident metrics, and durations people read ("3d 4h").

Triage order: patterns with something still open first; among them the highest
severity, then the longest open (the age of the oldest open row), then the most rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Fetch = Callable[[str, Sequence[Any]], tuple[tuple[str, ...], list[tuple[Any, ...]]]]
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
OPEN = ("open", "regressed")
# Rows about a write that failed or was refused; their target is what it was aimed at.
AFFECTING_TYPES = ("tool_error", "approval_denied", "policy_violation", "approval_bypassed")
TARGET_SQL = (
    "coalesce(json_extract_string(e.evidence, '$.span.attributes.\"spansift.tool.target\"'), "
    "json_extract_string(e.evidence, '$.span.attributes.\"spansift.gate.scope\"'))"
)

_PATTERNS_SQL = """
SELECT fingerprint, severity, "type", workflow, subject, exceptions, open, regressed,
       first_seen, last_seen, oldest_open, latest_id, latest_summary AS summary, owner,
       latest_status AS status, controls
FROM exception_pattern_view WHERE last_seen >= ?
"""

METRICS_SQL = f"""
WITH w AS (
    SELECT e.*, m.ack_s, m.resolve_s, epoch(e.detected_at - e.occurred_at) AS detect_s,
           least(
             (SELECT min(s.decided_at) FROM suspensions s
               WHERE s.action = 'suspend' AND s.decided_at >= e.occurred_at
                 AND ((s.target_kind = 'agent' AND s.target = e.agent)
                   OR (s.target_kind = 'workflow' AND s.target = e.workflow))),
             (SELECT min(d.decided_at) FROM decisions d
               WHERE d.exception_id = e.exception_id AND d.action = 'resolve'),
             (SELECT min(pd.decided_at) FROM pattern_decisions pd
               JOIN exception_patterns p ON p.fingerprint = pd.fingerprint
               WHERE p.exception_id = e.exception_id AND pd.action = 'resolve'
                 AND pd.decided_at >= e.occurred_at)
           ) AS contained_at,
           CASE WHEN e.exception_type IN {AFFECTING_TYPES} THEN {TARGET_SQL} END AS target
    FROM exceptions e JOIN incident_metrics m USING (exception_id)
    WHERE e.occurred_at >= ?
)
SELECT coalesce(workflow, '(none)') AS workflow, count(*) AS exceptions,
       median(detect_s) AS detect_s, median(ack_s) AS ack_s, median(resolve_s) AS resolve_s,
       median(epoch(contained_at - occurred_at)) AS contain_s,
       count(*) FILTER (WHERE contained_at IS NOT NULL) AS contained,
       count(DISTINCT CASE WHEN target IS NOT NULL THEN coalesce(tool, '') || '/' || target END)
           AS affected_records,
       count(*) FILTER (WHERE exception_type = 'approval_bypassed') AS review_bypasses
FROM w GROUP BY ALL ORDER BY exceptions DESC, workflow
"""
METRIC_COLUMNS = (
    "workflow", "exceptions", "detect", "ack", "resolve", "contain", "contained",
    "affected records", "review bypasses",
)  # fmt: skip


def duration(seconds: float | None) -> str:
    """Seconds as the two largest units people read: '3d 4h', '5h 12m', '4m 10s', '12s'."""
    if seconds is None:
        return "-"
    total = round(seconds)
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    shown = [f"{n}{unit}" for n, unit in parts[:2] if n or unit == parts[0][1]]
    return sign + " ".join(shown)


@dataclass(frozen=True, slots=True)
class Pattern:
    """One pattern (rule + fingerprint fields) as the review shows it."""

    fingerprint: str
    state: str  # new, regressed, ongoing
    severity: str
    type: str
    workflow: str
    subject: str | None
    exceptions: int
    open: int
    open_age_s: float | None  # age of the oldest open row at the end of the window
    first_seen: datetime
    last_seen: datetime
    latest_id: str
    summary: str
    owner: str | None
    status: str  # of the latest row
    controls: tuple[str, ...]

    def sort_key(self) -> tuple[Any, ...]:
        return (
            self.open == 0,
            -SEVERITY_RANK.get(self.severity, 0),
            -(self.open_age_s or 0.0),
            -self.exceptions,
            self.fingerprint,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "state": self.state, "severity": self.severity,
            "type": self.type, "workflow": self.workflow, "subject": self.subject,
            "exceptions": self.exceptions, "open": self.open, "open_age_s": self.open_age_s,
            "open_age": duration(self.open_age_s), "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(), "latest_id": self.latest_id,
            "summary": self.summary, "owner": self.owner, "status": self.status,
            "controls": list(self.controls),
        }  # fmt: skip


def patterns(fetch: Fetch, start: datetime, until: datetime) -> list[Pattern]:
    """Patterns seen in the window, in triage order."""
    columns, rows = fetch(_PATTERNS_SQL, [start])
    out = []
    for raw in rows:
        r = dict(zip(columns, raw, strict=True))
        state = "regressed" if r["regressed"] else "new" if r["first_seen"] >= start else "ongoing"
        oldest = r["oldest_open"]
        age = (until - oldest).total_seconds() if oldest is not None else None
        out.append(
            Pattern(
                r["fingerprint"], state, r["severity"], r["type"], r["workflow"], r["subject"],
                int(r["exceptions"]), int(r["open"]), age, r["first_seen"], r["last_seen"],
                r["latest_id"], r["summary"] or "", r["owner"], r["status"],
                tuple(r["controls"] or ()),
            )
        )  # fmt: skip
    return sorted(out, key=Pattern.sort_key)


PATTERN_COLUMNS = (
    "severity", "state", "type", "workflow", "subject", "open", "exceptions", "open for",
    "last seen", "owner", "latest", "summary",
)  # fmt: skip


def pattern_row(p: Pattern) -> tuple[Any, ...]:
    return (
        p.severity, p.state, p.type, p.workflow, p.subject, p.open, p.exceptions,
        duration(p.open_age_s) if p.open else "-", p.last_seen, p.owner, p.latest_id[:12],
        p.summary,
    )  # fmt: skip


def metric_rows(fetch: Fetch, start: datetime) -> tuple[tuple[Any, ...], ...]:
    """Incident metrics per workflow, durations as text."""
    _, rows = fetch(METRICS_SQL, [start])
    return tuple(
        (w, n, duration(d), duration(a), duration(r), duration(c), contained, affected, bypass)
        for w, n, d, a, r, c, contained, affected, bypass in rows
    )
