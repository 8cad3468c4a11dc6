"""Re-derive: run today's rules over kept traces and record how the log would differ.

`rederive` reads the traces kept beside the log (`store.kept`) whose spans end in the
window, with the other kept traces of their sessions, and drives them through the pipeline
on event time, as `ingest` does. A span's canonical fields are the ones derived when it
arrived (kept with it: some come from content redaction leaves out, such as the calls a
model proposed, read from its messages), over its kept attributes, with the `signals:` of
today's contracts applied again: the rules are what changes, not what the spans said.

The difference, per exception type and rule:
- **added**: rows the rules produce that the log does not hold; written through the
  normal write path (evidence, chain);
- **withdrawn**: rows of traces in the window the rules no longer produce; a chained
  `withdrawals` row marks each one (the row itself stays; its status shows `withdrawn`);
- **reinstated**: withdrawn rows the rules produce again (a chained `reinstate` row).

Rows of traces not kept (outside the window, or from before keeping was on) are never
withdrawn. New rows suspend nothing (a rule's `contain:` is for what happens now), and a
hit a grant covered when it arrived stays a grant use. With `dry_run` nothing is written.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from spansift.drive import Driver
from spansift.ingest import WRITE_BATCH
from spansift.model import AttrValue, Hit, Signal, Span
from spansift.normalize import fields_of
from spansift.normalize.signals import apply as apply_signals
from spansift.pipeline import Normalize
from spansift.rules import RuleSet
from spansift.store import chain
from spansift.store.kept import KeptTraces
from spansift.store.log import ExceptionLog
from spansift.store.rows import hit_id, utc_now

ACTOR = "rederive"
Key = tuple[str, str]  # (exception type, rule id)


@dataclass(frozen=True, slots=True)
class Change:
    """Rows of one exception type and rule that a rederive added, withdrew or reinstated."""

    change: str  # added, withdrawn, reinstated
    exception_type: str
    rule_id: str
    rows: int


@dataclass(slots=True)
class Rederived:
    """What one rederive read and how the log differs (or would, with `dry_run`)."""

    since: datetime
    dry_run: bool
    files: int = 0
    traces: int = 0  # traces read (the window's, and their sessions' other kept traces)
    window_traces: int = 0
    spans: int = 0
    produced: int = 0  # rows the rules produce over what was read
    # Of them, rows the log already holds (not withdrawn), or recorded as grant uses instead.
    unchanged: int = 0
    changes: list[Change] = field(default_factory=list)

    def total(self, change: str) -> int:
        return sum(c.rows for c in self.changes if c.change == change)


def _normalize(stored: dict[Key, dict[str, AttrValue]]) -> Normalize:
    """A kept span's fields: those derived when it arrived, over its (redacted) attributes,
    with the contracts' `signals:` of today applied again."""

    def normalize(span: Span, signals: Sequence[Signal]) -> dict[str, AttrValue]:
        kept = stored.pop((span.trace_id, span.span_id), None)
        if kept is None:
            return fields_of(span, signals)
        out = dict(span.attributes)
        out.update(kept)
        if signals:
            apply_signals(out, span.attributes.get, signals)
        return out

    return normalize


def _existing(log: ExceptionLog, traces: Sequence[str]) -> dict[str, tuple[str, str, str, bool]]:
    """Rows of `traces` in the log: id -> (type, rule, trace id, withdrawn now)."""
    if not traces:
        return {}
    withdrawn = "false"
    _, found = log.query("SELECT 1 FROM duckdb_views() WHERE view_name = 'latest_withdrawals'")
    if found:
        withdrawn = (
            "coalesce((SELECT w.action = 'withdraw' FROM latest_withdrawals w "
            "WHERE w.exception_id = r.exception_id), false)"
        )
    _, rows = log.query(
        f"SELECT exception_id, exception_type, rule_id, trace_id, {withdrawn} "
        "FROM exception_rows r WHERE trace_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(traces)],
    )
    return {str(r[0]): (str(r[1]), str(r[2]), str(r[3]), bool(r[4])) for r in rows}


def _granted(log: ExceptionLog, traces: Sequence[str]) -> set[str]:
    """Ids of the rows of `traces` a grant covered: recorded as grant uses, not as rows."""
    if not traces:
        return set()
    _, rows = log.query(
        "SELECT exception_id FROM grant_uses WHERE trace_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(traces)],
    )
    return {str(r[0]) for r in rows}


def rederive(
    db: str | Path, log: ExceptionLog, ruleset: RuleSet, since: datetime, *, dry_run: bool = False
) -> Rederived:
    """Rerun `ruleset` over the traces kept beside `db` since `since` (naive UTC)."""
    result = Rederived(since, dry_run)
    kept = KeptTraces(db)
    result.files = len(kept.files)
    if not kept.files:
        return result
    since_ns = int((since - datetime(1970, 1, 1)).total_seconds() * 1e9)
    window, batches = kept.window(since_ns)
    result.traces, result.spans = len(window.traces), window.spans
    result.window_traces = len(window.in_window)
    existing = _existing(log, sorted(window.traces))  # before anything is written
    # A grant that covered a hit may have expired since: the hit stays a grant use.
    granted = _granted(log, sorted(window.traces))
    if not dry_run:
        log.set_fingerprints(ruleset.fingerprints())
    stored: dict[Key, dict[str, AttrValue]] = {}
    driver = Driver(
        ruleset, log, source=ACTOR, event_time=True, sift=False,
        normalize=_normalize(stored),
    )  # fmt: skip
    produced: dict[str, Key] = {}
    noted = 0  # pending hits already counted in `produced`

    def take() -> None:
        nonlocal noted
        pending = driver.done.pending
        fresh = pending[noted:]
        for hit in fresh:
            produced.setdefault(hit_id(hit), (hit.match.exception_type, hit.match.rule_id))
        # Rows of past traces are evidence, not an incident now: no rule suspends from them.
        pending[noted:] = [_uncontained(h) for h in fresh if hit_id(h) not in granted]
        noted = len(pending)
        if dry_run:
            driver.done.pending, noted = [], 0
        elif noted >= WRITE_BATCH:
            _commit(driver)
            noted = 0

    for batch in batches:
        for span, fields in batch:
            stored[(span.trace_id, span.span_id)] = fields
        driver.spans([span for span, _ in batch])
        take()
    driver.finish()
    take()
    if not dry_run:
        _commit(driver)
    for row_id in granted.intersection(produced):
        existing.setdefault(row_id, (*produced[row_id], "", False))
    return _difference(result, log, produced, existing, window.in_window)


def _uncontained(hit: Hit) -> Hit:
    if hit.match.contain is None:
        return hit
    return replace(hit, match=replace(hit.match, contain=None))


def _commit(driver: Driver) -> None:
    driver.pipeline.runs.take()  # these runs were counted when they first arrived
    driver.commit()


def _difference(
    result: Rederived,
    log: ExceptionLog,
    produced: dict[str, Key],
    existing: dict[str, tuple[str, str, str, bool]],
    in_window: frozenset[str],
) -> Rederived:
    """Count the changes and, unless a dry run, record withdrawals and reinstatements."""
    counts: Counter[tuple[str, str, str]] = Counter()
    marks: list[tuple[str, str]] = []  # (exception id, action)
    for row_id, (kind, rule) in produced.items():
        held = existing.get(row_id)
        if held is None:
            counts[("added", kind, rule)] += 1
        elif held[3]:
            counts[("reinstated", kind, rule)] += 1
            marks.append((row_id, "reinstate"))
        else:
            result.unchanged += 1
    for row_id, (kind, rule, trace_id, withdrawn) in existing.items():
        if row_id not in produced and not withdrawn and trace_id in in_window:
            counts[("withdrawn", kind, rule)] += 1
            marks.append((row_id, "withdraw"))
    result.produced = len(produced)
    order = {"added": 0, "withdrawn": 1, "reinstated": 2}
    result.changes = [
        Change(change, kind, rule, n)
        for (change, kind, rule), n in sorted(counts.items(), key=lambda i: (order[i[0][0]], i[0]))
    ]
    if marks and not result.dry_run:
        _mark(log, marks, result.since)
    return result


def _mark(log: ExceptionLog, marks: list[tuple[str, str]], since: datetime) -> None:
    """Append the chained withdrawals and reinstatements, in one transaction."""
    now = utc_now()
    run = f"(rederive since {since:%Y-%m-%d %H:%M})"
    reason = {
        "withdraw": f"the current rules no longer produce it {run}",
        "reinstate": f"the current rules produce it again {run}",
    }
    rows = []
    for row_id, action in marks:
        key = hashlib.sha256(f"{row_id}\x1f{action}\x1f{now.isoformat()}".encode()).hexdigest()
        rows.append((key[:32], row_id, now, action, ACTOR, reason[action]))
    log.append(chain.WITHDRAWAL, "withdrawals", rows)
