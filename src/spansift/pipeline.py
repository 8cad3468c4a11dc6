"""The shared middle of every source: spans in, hits out.

Sources hand the pipeline finished `Span` values (the SDK processor, OTLP/JSON)
or a decoded OTLP protobuf request. Each span is normalized once and held by an
`Assembler` until its trace closes. Then the run model (`spansift.runs`) resolves
the trace together with the earlier traces of its run (same session): agents and
workflows attributed, calls and gates matched. Span rules judge each record that
is new or changed, trace rules the trace, run rules the run so far. When the run
closes, it is judged once more as finished: a gate never answered is pending.
Rows are idempotent, so judging a run again only adds what is new.

A `Pipeline` does no I/O and starts no thread; time comes from the `clock` it is
given, so callers (and tests) decide when traces close. One thread at a time.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spansift.model import AttrValue, Hit, Signal, Span, SpanRecord
from spansift.normalize import compact, fields_of
from spansift.runcount import RunCounter
from spansift.runs import resolve, state
from spansift.sources.otlp_proto import spans_from_request
from spansift.traces import Assembler, AssemblyLimits, Group

if TYPE_CHECKING:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from spansift.rules import RuleSet

# Spans kept as evidence beside one exception of a run (a run can be long).
MAX_CONTEXT_SPANS = 500
MAX_LINKED_CALLS = 100_000
RecordKey = tuple[str, str, str]
# A span's canonical fields (with a contracts file's signals): `normalize.fields_of`.
Normalize = Callable[[Span, Sequence[Signal]], dict[str, AttrValue]]


@dataclass(slots=True)
class Counts:
    """Running totals of one pipeline, for summaries and `stats`."""

    spans: int = 0
    hits: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class Pipeline:
    """Normalize spans, hold them per trace, judge traces and runs as they close."""

    def __init__(
        self,
        ruleset: RuleSet,
        *,
        limits: AssemblyLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        save_runs: bool = True,
        normalize: Normalize = fields_of,
    ) -> None:
        self.ruleset = ruleset
        self._normalize = normalize
        # Told the traces that close, before they are judged (keeping them, see store.kept).
        self.on_close: Callable[[list[Group]], None] | None = None
        self.counts = Counts()
        self._clock = clock
        self._signals = ruleset.contracts.signals
        self._keep = ruleset.wanted_keys  # raw keys the rules read; the rest is not held
        self.assembler = Assembler(limits)
        self._losses = (0, 0, 0)
        # Tool call id -> the run it was seen in, so a resume with no session finds its run.
        self._call_runs: OrderedDict[str, str] = OrderedDict()
        # Run state to persist since the last take_run_state(): (run, trace) -> records.
        # A backfill closes every run at its end and keeps none (`save_runs` False).
        self.save_runs = save_runs
        self.runs = RunCounter()  # traffic per workflow and day, counted at root spans
        self._run_saves: dict[tuple[str, str], list[SpanRecord]] = {}
        self._runs_closed: set[str] = set()

    # -- input -----------------------------------------------------------------

    def spans(
        self, spans: Iterable[Span], tag: int | None = None, *, flush: bool = True
    ) -> list[Hit]:
        """Hold spans for their traces; returns the hits of traces that closed meanwhile
        (none with `flush=False`: the caller flushes when it chooses)."""
        assembler = self.assembler
        signals = self._signals
        now = self._clock()
        n = 0
        keep = self._keep
        runs = self.runs
        normalize = self._normalize
        for span in spans:
            n += 1
            fields = normalize(span, signals)
            if span.parent_span_id is None:
                runs.add(span, fields)
            assembler.add(compact(SpanRecord(span, fields), keep), now, tag)
        self.counts.spans += n
        return self.flush(now) if flush else []

    def request(self, request: ExportTraceServiceRequest, tag: int | None = None) -> list[Hit]:
        """The same for a decoded OTLP protobuf request."""
        return self.spans(spans_from_request(request), tag)

    # -- closing traces and runs ---------------------------------------------------

    def flush(self, now: float | None = None, *, ended_roots: bool = False) -> list[Hit]:
        """Hits of the traces and runs that have closed by `now` (default: the clock).

        With `ended_roots`, a trace whose root span has ended closes without waiting
        for its quiet period (an explicit flush by the application).
        """
        assembler = self.assembler
        now = self._clock() if now is None else now
        closed = assembler.closed_traces(now, ended_roots=ended_roots)
        return self._close(closed, now, lambda: assembler.closed_runs(now))

    def finish(self) -> list[Hit]:
        """Close every open trace and run (end of a backfill, shutdown) and return their hits."""
        assembler = self.assembler
        return self._close(assembler.close_all_traces(), self._clock(), assembler.close_all_runs)

    def take_losses(self) -> tuple[str, int] | None:
        """What trace assembly gave up since the last call: (gap reason, spans lost), or None.

        Callers record it with `ExceptionLog.record_gap`, so a review can count evictions.
        """
        counters = self.assembler.counters
        now = (counters.traces_evicted, counters.runs_evicted, counters.spans_dropped)
        traces, runs, spans = (a - b for a, b in zip(now, self._losses, strict=True))
        self._losses = now
        if not (traces or runs or spans):
            return None
        reason = (
            f"trace assembly bounds: {traces} traces and {runs} runs evicted early, "
            f"{spans} spans over the per-trace limit not kept"
        )
        return reason, spans

    def take_run_state(self) -> tuple[list[tuple[str, str, str]], list[str]]:
        """Run state changed since the last call: (run, trace, records as text) to save, and
        the runs that closed (to delete). Written with the hits, so a restart forgets nothing."""
        saves = [
            (run, trace, state.dump(records)) for (run, trace), records in self._run_saves.items()
        ]
        closed = sorted(self._runs_closed)
        self._run_saves, self._runs_closed = {}, set()
        return saves, closed

    def give_back_run_state(self, taken: tuple[list[tuple[str, str, str]], list[str]]) -> None:
        """Undo `take_run_state` after a failed write: what was taken is offered again."""
        saves, closed = taken
        self._runs_closed.update(closed)
        for run, trace, text in saves:
            self._run_saves.setdefault((run, trace), state.load(text))

    def restore_runs(self, rows: Iterable[tuple[str, str, str]]) -> int:
        """Open again the runs a previous process left open (`ExceptionLog.load_run_state`).

        Returns how many traces were restored.
        """
        now = self._clock()
        count = 0
        for run_key, _trace, text in rows:
            records = state.load(text)
            self.assembler.restore_run(run_key, records, now)
            self._link(_call_ids(records), run_key)
            count += 1
        return count

    def oldest_open_tag(self) -> int | None:
        """The oldest source position (spool segment) an open trace still holds spans from."""
        return self.assembler.oldest_tag()

    def _close(
        self, traces: list[Group], now: float, closed_runs: Callable[[], list[Group]]
    ) -> list[Hit]:
        """Judge closed traces (with their runs so far), then the runs that closed.

        The traces of one session that close together are judged with their run in one
        pass: a busy session closes many at once, and judging each alone would resolve
        the whole run again for every one of them.
        """
        if traces and self.on_close is not None:
            self.on_close(traces)
        out: list[Hit] = []
        sessions: dict[str, list[Group]] = {}
        # In the order they happened, so a pause is held before the trace resuming it closes.
        for trace in sorted(traces, key=_started):
            session = _run_key(trace.records)
            if session is not None:
                sessions.setdefault(session, []).append(trace)
                continue
            # A trace with no session may join a run by the calls it shares with it: the
            # sessions closing before it are judged first.
            for key, batch in sessions.items():
                out.extend(self._close_group(key, batch, now))
            sessions.clear()
            out.extend(self._close_group(self._linked_run(_call_ids(trace.records)), [trace], now))
        for key, batch in sessions.items():
            out.extend(self._close_group(key, batch, now))
        for run in closed_runs():
            out.extend(self._judge_closed(run))
        self._count(0, out)
        return out

    def _close_group(self, run_key: str | None, traces: list[Group], now: float) -> list[Hit]:
        """Judge traces closing together (one, or several of a session) with their run."""
        out: list[Hit] = []
        run = self.assembler.run(run_key) if run_key is not None else None
        if run is not None and self.assembler.run_full(run):
            # A session that never pauses long enough to close: judge what it holds as a
            # finished run and start it again, so no close costs more than a full run.
            out.extend(self._judge_closed(self.assembler.split_run(run.key)))
            run = None
        # A reopened (or, after a restart, restored) trace is partly in its run already:
        # judge each of its records once, as they are now.
        prior = list(run.records) if run is not None else []
        held = run.keys if run is not None else set()
        mine = [
            r for t in traces for r in t.records if (r.span.trace_id, r.span.span_id) not in held
        ]
        # A trace with a session is judged as the run so far; one without is a whole run.
        resolved = resolve([*prior, *mine], self.ruleset.contracts, final=run_key is None)
        ids = {t.key for t in traces}
        found: list[Hit] = []
        if run_key is None and _waiting(resolved):
            # A pause with no session to tie the resume to: hold the trace as a run of its
            # own, joined by the calls a later trace answers, and judge it when that closes.
            run_key = f"~{traces[0].key}"
        else:
            found = self._judge(resolved, traces, run)
        out.extend(found)
        if run_key is None:
            return out
        for trace in traces:
            self._link(_call_ids(trace.records), run_key)
            self.assembler.join_run(trace, run_key, now)
            if self.save_runs:
                self._run_saves[(run_key, trace.key)] = trace.records
        joined = self.assembler.run(run_key)
        if joined is not None:
            joined.resolved = {_key(r): dict(r.fields) for r in resolved}
            if run is None:  # the run began with these traces: what they emitted counts
                joined.emitted.update(
                    (h.match.rule_id, h.span.trace_id, h.span.span_id, h.item)
                    for h in found
                    if h.span.trace_id in ids
                )
        return out

    def _judge_closed(self, run: Group) -> list[Hit]:
        """A run that closed, judged once more as finished."""
        if self.save_runs:
            self._runs_closed.add(run.key)
        self._run_saves = {k: v for k, v in self._run_saves.items() if k[0] != run.key}
        resolved = resolve(run.records, self.ruleset.contracts, final=True)
        # A held pause nobody answered (`~`) is judged only now, as a whole.
        return self._judge(resolved, (), run, everything=run.key.startswith("~"))

    def _linked_run(self, calls: set[str]) -> str | None:
        """The open run a trace belongs to by the tool calls it shares with it (a resume)."""
        for call in calls:
            key = self._call_runs.get(call)
            if key is not None and self.assembler.run(key) is not None:
                return key
        return None

    def _link(self, calls: set[str], run_key: str) -> None:
        links = self._call_runs
        for call in calls:
            links[call] = run_key
            links.move_to_end(call)
        while len(links) > MAX_LINKED_CALLS:
            links.popitem(last=False)

    def _judge(
        self,
        resolved: Sequence[SpanRecord],
        traces: Sequence[Group],
        run: Group | None,
        *,
        everything: bool = False,
    ) -> list[Hit]:
        """Rules over resolved records: span rules on what is new or changed, then aggregates.

        `traces` are the traces closing now (none when a run closes): their records are
        new, and trace rules judge each of them.
        """
        ruleset = self.ruleset
        before = run.resolved if run is not None and not everything else {}
        closing = {t.key: t for t in traces}
        fresh = [
            r for r in resolved if r.span.trace_id in closing or before.get(_key(r)) != r.fields
        ]
        found = ruleset.match_records(fresh, "span")
        if closing:
            by_trace: dict[str, list[SpanRecord]] = {key: [] for key in closing}
            for r in resolved:
                mine = by_trace.get(r.span.trace_id)
                if mine is not None:
                    mine.append(r)
            for mine in by_trace.values():
                found += ruleset.match_records(mine, "trace")
        found += ruleset.match_records(resolved, "run")
        if run is not None:
            emitted = run.emitted
            keys = [(m.rule_id, r.span.trace_id, r.span.span_id, r.item) for m, r in found]
            found = [f for f, k in zip(found, keys, strict=True) if k not in emitted]
            emitted.update(keys)
        if not found:
            return []
        incomplete: dict[str, str | None] = {}
        spans = tuple(r.span for r in resolved if not r.item)
        spans_of: dict[str, list[Span]] = {}
        for span in spans:
            spans_of.setdefault(span.trace_id, []).append(span)
        hits = []
        for match, r in found:
            trace_id = r.span.trace_id
            if trace_id not in incomplete:
                incomplete[trace_id] = _incomplete(closing.get(trace_id), run)
            context = _context(spans, spans_of, r.span)
            hits.append(Hit(match, r.span, r.fields, context, incomplete[trace_id], r.item))
        return hits

    def _count(self, spans: int, hits: list[Hit]) -> None:
        counts = self.counts
        counts.spans += spans
        counts.hits += len(hits)
        for hit in hits:
            kind = hit.match.exception_type
            counts.by_type[kind] = counts.by_type.get(kind, 0) + 1


def _key(record: SpanRecord) -> RecordKey:
    return record.span.trace_id, record.span.span_id, record.item


def _incomplete(trace: Group | None, run: Group | None) -> str | None:
    parts = [g.incomplete() for g in (trace, run) if g is not None]
    return "; ".join(p for p in parts if p) or None


def _context(
    spans: tuple[Span, ...], spans_of: dict[str, list[Span]], anchor: Span
) -> tuple[Span, ...]:
    """The other spans kept as evidence: the anchor's trace first, then the run's, bounded.

    `spans_of` groups `spans` by trace; the run's spans are read only as far as the bound
    (a long session's run holds thousands).
    """
    same = [s for s in spans_of.get(anchor.trace_id, ()) if s is not anchor]
    room = MAX_CONTEXT_SPANS - len(same)
    other: list[Span] = []
    if room > 0:
        for span in spans:
            if span.trace_id != anchor.trace_id:
                other.append(span)
                if len(other) == room:
                    break
    return tuple((same + other)[:MAX_CONTEXT_SPANS])


def _started(trace: Group) -> int:
    return min((r.span.start_ns for r in trace.records), default=0)


def _call_ids(records: list[SpanRecord]) -> set[str]:
    """Tool call ids a trace mentions: ran, proposed, answered or held at a gate."""
    out: set[str] = set()
    for record in records:
        f = record.fields
        for name in ("tool.call_id", "tool.proposed_ids", "tool.result_ids", "gate.call_id"):
            value = f.get(name)
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, str) and item:
                    out.add(item)
    return out


def _waiting(records: Sequence[SpanRecord]) -> bool:
    """Whether a gate was left open (pending) among a finished run's resolved records."""
    return any(r.fields.get("gate.decision") == "pending" for r in records)


def _run_key(records: list[SpanRecord]) -> str | None:
    for record in records:
        session = record.fields.get("session.id")
        if isinstance(session, str) and session:
            return session
    return None
