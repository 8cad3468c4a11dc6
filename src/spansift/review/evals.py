"""Exceptions as eval cases: one JSON object per line, with the evidence spans behind it.

Each case says what happened (the offending span and its trace, redacted as stored),
which boundary was crossed, and what must not happen again, so an eval harness or a
grader can replay the situation and check that the agent now stays inside.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

Fetch = Callable[[str, Sequence[Any]], tuple[tuple[str, ...], list[tuple[Any, ...]]]]
_CASE_COLUMNS = (
    "exception_id, occurred_at, workflow, step, trace_id, span_id, exception_type, severity, "
    "rule_id, agent, tool, boundary, summary, owner, status, resolution, follow_up"
)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def select_ids(fetch: Fetch, ids: Sequence[str], follow_up: str | None) -> list[str]:
    """Full ids for prefixes, or every row whose follow-up is `follow_up`."""
    if ids:
        found: list[str] = []
        for prefix in ids:
            _, rows = fetch(
                "SELECT exception_id FROM exceptions WHERE starts_with(exception_id, ?)",
                [prefix.lower()],
            )
            if len(rows) != 1:
                problem = "no exception" if not rows else f"{len(rows)} exceptions"
                msg = f"id {prefix!r} matches {problem}"
                raise ValueError(msg)
            found.append(str(rows[0][0]))
        return found
    _, rows = fetch(
        "SELECT exception_id FROM exceptions WHERE follow_up = ? ORDER BY occurred_at",
        [follow_up or "eval_case"],
    )
    return [str(r[0]) for r in rows]


def eval_cases(fetch: Fetch, ids: Sequence[str]) -> Iterator[dict[str, Any]]:
    """One eval case per exception id, with its evidence spans in start order."""
    for exception_id in ids:
        columns, rows = fetch(
            f"SELECT {_CASE_COLUMNS} FROM exceptions WHERE exception_id = ?", [exception_id]
        )
        row = {c: _plain(v) for c, v in zip(columns, rows[0], strict=True)}
        _, spans = fetch(
            "SELECT span FROM evidence_spans WHERE exception_id = ? ORDER BY start_at, span_id",
            [exception_id],
        )
        yield {
            "id": row["exception_id"],
            "workflow": row["workflow"],
            "agent": row["agent"],
            "input": {"trace_id": row["trace_id"], "span_id": row["span_id"]},
            "expected": {
                "must_not": row["exception_type"],
                "boundary": row["boundary"],
                "rule_id": row["rule_id"],
                "tool": row["tool"],
            },
            "exception": row,
            "evidence": [_json(s[0]) for s in spans],
        }
