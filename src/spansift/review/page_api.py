"""What the review page asks the receiver: the review, a row's trace tree, and its buttons.

Pure functions over `fetch` (reads) and `act` (the receiver's review writes, the same
`apply` that `spansift ack` reaches), so every button writes append-only, chained rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from spansift.review.actions import ActionError
from spansift.review.render import review_dict
from spansift.review.report import build_review

Fetch = Callable[[str, Sequence[Any]], tuple[tuple[str, ...], list[tuple[Any, ...]]]]
Act = Callable[[dict[str, Any]], dict[str, Any]]
MAX_WINDOW_DAYS = 366
# Which rows of a pattern each button is about.
_ROWS_OF = {
    "ack": ("open", "regressed"),
    "resolve": ("open", "regressed", "acknowledged"),
    "assign": ("open", "regressed", "acknowledged", "suppressed"),
}
_PATTERN_ROWS_SQL = (
    "SELECT e.exception_id FROM exceptions e JOIN exception_patterns p USING (exception_id) "
    "WHERE p.fingerprint = ? AND list_contains(?, e.status) ORDER BY e.occurred_at"
)
_ROW_SQL = (
    "SELECT exception_id, occurred_at, workflow, exception_type, severity, rule_id, agent, tool, "
    "summary, owner, status, resolution, follow_up, trace_id, span_id, controls, evidence "
    "FROM exceptions WHERE starts_with(exception_id, ?)"
)
_SPANS_SQL = (
    "SELECT span_id, trace_id, parent_span_id, name, status, start_at, end_at, offending, span "
    "FROM evidence_spans WHERE exception_id = ? ORDER BY start_at, span_id"
)


def review_data(fetch: Fetch, days: float, by: str = "workflow") -> dict[str, Any]:
    """The review of the last `days` days, as the page renders it."""
    days = min(max(days, 1 / 24), MAX_WINDOW_DAYS)
    return review_dict(build_review(fetch, timedelta(days=days), by=by))


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def trace_tree(fetch: Fetch, exception_id: str) -> dict[str, Any]:
    """One row and the evidence behind it as nested spans, the offending one marked."""
    columns, rows = fetch(_ROW_SQL, [exception_id.lower()])
    if len(rows) != 1:
        msg = f"no single exception with id {exception_id!r}"
        raise ActionError(msg)
    row = {c: _plain(v) for c, v in zip(columns, rows[0], strict=True)}
    row["evidence"] = json.loads(row["evidence"]) if isinstance(row["evidence"], str) else None
    columns, spans = fetch(_SPANS_SQL, [row["exception_id"]])
    nodes = []
    for raw in spans:
        span = {c: _plain(v) for c, v in zip(columns, raw, strict=True)}
        detail = json.loads(span.pop("span")) if isinstance(span["span"], str) else {}
        span["attributes"] = detail.get("attributes", {})
        span["status_message"] = detail.get("status_message", "")
        span["children"] = []
        nodes.append(span)
    by_id = {(n["trace_id"], n["span_id"]): n for n in nodes}
    roots: list[dict[str, Any]] = []
    for node in nodes:
        parent = by_id.get((node["trace_id"], node["parent_span_id"]))
        (parent["children"] if parent is not None else roots).append(node)
    return {"exception": row, "spans": roots}


_ROWS_SQL = (
    "SELECT e.exception_id, e.occurred_at, e.status, e.owner, e.summary FROM exceptions e "
    "JOIN exception_patterns p USING (exception_id) WHERE p.fingerprint = ? "
    "ORDER BY e.occurred_at DESC LIMIT 200"
)


def pattern_rows(fetch: Fetch, fingerprint: str) -> list[dict[str, Any]]:
    """The rows of one pattern, newest first (at most 200), to pick one's evidence."""
    columns, rows = fetch(_ROWS_SQL, [fingerprint])
    return [{c: _plain(v) for c, v in zip(columns, r, strict=True)} for r in rows]


def _text(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return value if isinstance(value, str) and value.strip() else None


def act_on_pattern(fetch: Fetch, act: Act, doc: Mapping[str, Any]) -> dict[str, Any]:
    """A button on a pattern: ack, resolve, assign its rows, or suppress the pattern."""
    action = _text(doc, "action")
    fingerprint = _text(doc, "fingerprint")
    actor = _text(doc, "actor")
    if actor is None:
        msg = "say who you are (the reviewer field) before deciding"
        raise ActionError(msg)
    if fingerprint is None:
        msg = "'fingerprint' is required"
        raise ActionError(msg)
    request: dict[str, Any] = {"op": "decide", "action": action, "actor": actor}
    for key in ("resolution", "follow_up", "owner", "note"):
        if _text(doc, key) is not None:
            request[key] = doc[key]
    if action == "suppress":
        days = doc.get("days")
        if not isinstance(days, (int, float)) or isinstance(days, bool) or days <= 0:
            msg = "suppressing needs a number of days"
            raise ActionError(msg)
        request |= {"pattern": True, "filter": {"fingerprint": fingerprint}, "for_s": days * 86400}
        return act(request)
    if action not in _ROWS_OF:
        msg = f"unknown action {action!r}; use ack, resolve, assign or suppress"
        raise ActionError(msg)
    _, rows = fetch(_PATTERN_ROWS_SQL, [fingerprint, list(_ROWS_OF[action])])
    if not rows:
        msg = f"no rows of this pattern can be {action}ed now"
        raise ActionError(msg)
    request["ids"] = [str(r[0]) for r in rows]
    return act(request)
