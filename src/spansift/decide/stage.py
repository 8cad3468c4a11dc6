"""Decide, then write: the pure stage between the rules' hits and the store.

`decide` turns a batch of hits into exactly what the store will write: exception
rows with their routed owner, the rows a live approval grant covers (recorded as
`grant_uses` instead of exceptions), the published controls each row evidences, and
the suspensions the rules ask for (`contain: agent|workflow`). It reads nothing and
writes nothing: the live grants, their use counts and the current suspensions come
in as a `Controls` snapshot the store refreshes, and the new use counts go out in
the `Decision`, to be kept only once its transaction commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from spansift.decide.coverage import covered, grant_use
from spansift.model import Hit, Span
from spansift.store.rows import COLUMN_NAMES, hit_id, hit_row

_OWNER = COLUMN_NAMES.index("owner")

RouteOwner = Callable[[Mapping[str, Any]], "str | None"]


@dataclass(frozen=True)
class Controls:
    """What the store knows of live controls when a batch is decided."""

    grants: tuple[tuple[Any, ...], ...] = ()  # live grants, `chain.GRANT_COLUMNS` order
    uses: Mapping[str, int] = field(default_factory=dict)  # grant id -> uses so far
    suspended: frozenset[tuple[str, str]] = frozenset()  # (agent|workflow, name)


@dataclass(frozen=True)
class Decision:
    """A batch of hits decided: what to write, and where."""

    rows: dict[str, tuple[Any, ...]]  # exception id -> row (owner routed), grants' uses left out
    controls: dict[str, tuple[str, list[str]]]  # exception id -> (id, published controls)
    covered: frozenset[str]  # exception ids a live grant covers
    uses: tuple[tuple[Any, ...], ...]  # their `grant_uses` rows
    use_counts: Mapping[str, int]  # grant id -> uses, counting this batch
    suspensions: tuple[tuple[str, tuple[Any, ...]], ...]  # (exception id, suspension row)


def routed(route_owner: RouteOwner | None, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The row with the owner routing gives it, if any."""
    if route_owner is None:
        return row
    owner = route_owner(dict(zip(COLUMN_NAMES, row, strict=True)))
    return row if owner is None else (*row[:_OWNER], owner, *row[_OWNER + 1 :])


def decide(
    hits: Sequence[Hit],
    controls: Controls,
    detected_at: datetime,
    *,
    route_owner: RouteOwner | None = None,
    span_json: Callable[[Span], str] | None = None,
) -> Decision:
    """Decide a batch of hits (see the module's doc); `span_json` gives a span's evidence JSON."""
    rows: dict[str, tuple[Any, ...]] = {}
    published: dict[str, tuple[str, list[str]]] = {}
    for hit in hits:
        text = span_json(hit.span) if span_json is not None else None
        row = routed(route_owner, hit_row(hit, detected_at, text))
        rows.setdefault(row[0], row)
        if hit.match.controls:
            published[row[0]] = (row[0], list(hit.match.controls))
    counts = dict(controls.uses)
    by_grant = covered(controls.grants, counts, list(rows.values()))
    uses = tuple(
        grant_use(rows.pop(row_id), grant_id, detected_at) for row_id, grant_id in by_grant.items()
    )
    return Decision(
        rows=rows,
        controls=published,
        covered=frozenset(by_grant),
        uses=uses,
        use_counts=counts,
        suspensions=_contain(hits, rows, controls.suspended, detected_at),
    )


def _contain(
    hits: Sequence[Hit],
    rows: Mapping[str, tuple[Any, ...]],
    suspended: frozenset[tuple[str, str]],
    at: datetime,
) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """The suspensions the rules of these rows ask for, keyed by the row that asks."""
    out: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for hit in hits:
        kind = hit.match.contain
        if kind is None:
            continue
        row_id = hit_id(hit)
        target = hit.fields.get("agent.name" if kind == "agent" else "workflow")
        if row_id not in rows or not isinstance(target, str) or (kind, target) in suspended:
            continue
        key = hashlib.sha256(f"{kind}\x1f{target}\x1f{row_id}".encode()).hexdigest()[:32]
        reason = f"exception {row_id[:12]} ({hit.match.exception_type}): {hit.match.summary}"
        actor = f"rule:{hit.match.rule_id}"
        out[key] = (row_id, (key, kind, target, "suspend", actor, reason[:500], at))
    return tuple(out.values())
