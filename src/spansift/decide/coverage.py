"""Approval grants at write time: which new exception rows a live grant covers.

A covered row is not an exception: the use was approved ahead of time. It is
recorded in `grant_uses` instead (see `ExceptionLog.write`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from spansift.store.rows import COLUMN_NAMES

# Exception types an approval grant can cover: the use was approved ahead of time.
GRANTABLE = frozenset({"wrong_tool", "approval_bypassed", "approval_denied"})


def parse_scope(scope: str) -> dict[str, str]:
    """`workflow=refunds,uses=20` as a mapping; `*` or empty means no limit."""
    out: dict[str, str] = {}
    for part in scope.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _in_scope(scope: Mapping[str, str], row: Mapping[str, Any], used: int) -> bool:
    workflow = scope.get("workflow")
    if workflow is not None and not fnmatch.fnmatchcase(row["workflow"] or "", workflow):
        return False
    uses = scope.get("uses")
    return not (uses is not None and uses.isdigit() and used >= int(uses))


def grant_use(row: tuple[Any, ...], grant_id: str, recorded_at: datetime) -> tuple[Any, ...]:
    """The `grant_uses` row for an exception row a live grant covers."""
    get = dict(zip(COLUMN_NAMES, row, strict=True))
    return (
        get["exception_id"], grant_id, get["occurred_at"], recorded_at, get["workflow"],
        get["agent"], get["tool"], get["exception_type"], get["rule_id"], get["trace_id"],
        get["span_id"],
    )  # fmt: skip


def covered(
    grants: Sequence[tuple[Any, ...]], uses: dict[str, int], rows: Sequence[tuple[Any, ...]]
) -> dict[str, str]:
    """{exception_id: grant_id} for rows a grant covers; counts each use in `uses`."""
    out: dict[str, str] = {}
    if not grants:
        return out
    for row in rows:
        get = dict(zip(COLUMN_NAMES, row, strict=True))
        if get["exception_type"] not in GRANTABLE:
            continue
        for grant in grants:
            grant_id, agent, tool, scope, granted_at, expires_at = grant[:6]
            if (get["agent"], get["tool"]) != (agent, tool):
                continue
            if not granted_at <= get["occurred_at"] < expires_at:
                continue  # a use after expiry stays an exception
            if not _in_scope(parse_scope(scope), get, uses.get(grant_id, 0)):
                continue
            uses[grant_id] = uses.get(grant_id, 0) + 1
            out[get["exception_id"]] = grant_id
            break
    return out
