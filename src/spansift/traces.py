"""Trace assembly and runs: spans gathered per trace, traces gathered per run, memory bounded.

A trace closes when its root span has ended and `quiet_s` passed with no new span,
or `timeout_s` after its first span. A closed trace lingers for `linger_s`: a late
span for it (another service's, a slow exporter's) reopens it, and the whole trace
is judged again. A closed trace joins its *run*: the traces
sharing a `session.id` (the GenAI conversation id, an OpenInference session, a
LangGraph thread), which is how a human-in-the-loop pause and its resume in a new
trace are judged together. A run closes `run_window_s` after its last trace
closed; a trace with no session is a run of its own.

Memory is bounded by `max_traces`, `max_spans_per_trace`, `max_held_spans` and
`max_runs`. What must go early is closed early (evicted) and counted, and the
exceptions it produces say their evidence is incomplete.

The assembler is plain data plus a clock value passed in: no threads, no I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from spansift.model import AttrValue, SpanRecord


@dataclass(frozen=True, slots=True)
class AssemblyLimits:
    """When traces and runs close, and how much they may hold."""

    quiet_s: float = 0.5
    timeout_s: float = 60.0
    linger_s: float = 30.0
    run_window_s: float = 300.0
    max_traces: int = 10_000
    max_spans_per_trace: int = 2_000
    max_held_spans: int = 100_000
    max_runs: int = 10_000
    max_lingering_spans: int = 50_000


@dataclass(slots=True)
class Group:
    """The spans of one open trace or run, and what happened to it so far."""

    key: str
    first_seen: float
    last_seen: float
    records: list[SpanRecord] = field(default_factory=list)
    # A run's records as last resolved, by (trace, span, item): what changed is judged again.
    resolved: dict[tuple[str, str, str], dict[str, AttrValue]] = field(default_factory=dict)
    # Rows a run already produced, by (rule, trace, span, item): judged again, not again emitted.
    emitted: set[tuple[str, str, str, str]] = field(default_factory=set)
    span_ids: set[str] = field(default_factory=set)  # a replayed span is not counted twice
    keys: set[tuple[str, str]] = field(default_factory=set)  # (trace, span) ids held by a run
    root_ended: bool = False
    dropped_spans: int = 0
    evicted: str | None = None
    tag: int | None = None  # the oldest source position it holds spans from (spool segment)

    def incomplete(self) -> str | None:
        """Why its evidence is known to be incomplete, or None."""
        parts = []
        if not self.root_ended and self.span_ids:
            parts.append("no root span seen: judged on part of the trace")
        if self.evicted:
            parts.append(self.evicted)
        if self.dropped_spans:
            parts.append(f"spans over the per-trace limit not kept: {self.dropped_spans}")
        return "; ".join(parts) or None


@dataclass(slots=True)
class Counters:
    """What the assembler had to give up, for stats and evidence gaps."""

    traces_closed: int = 0
    traces_reopened: int = 0
    traces_evicted: int = 0
    runs_closed: int = 0
    runs_evicted: int = 0
    spans_dropped: int = 0


class Assembler:
    """Groups span records by trace, then closed traces by run."""

    def __init__(self, limits: AssemblyLimits | None = None) -> None:
        self.limits = limits or AssemblyLimits()
        self._run_room = self.limits.max_spans_per_trace * 4  # spans a run may hold
        self.counters = Counters()
        self._traces: OrderedDict[str, Group] = OrderedDict()  # by first span, oldest first
        self._ended: OrderedDict[str, Group] = OrderedDict()  # root ended; by last span
        self._runs: OrderedDict[str, Group] = OrderedDict()  # by last trace, oldest first
        # Closed traces a late span may reopen, by closing time, oldest first.
        self._lingering: OrderedDict[str, tuple[float, Group]] = OrderedDict()
        self._lingering_spans = 0
        self._held = 0
        # Source positions (spool segments) held by open or lingering traces: how many each.
        self._tags: dict[int, int] = {}

    @property
    def open_traces(self) -> int:
        return len(self._traces)

    @property
    def held_spans(self) -> int:
        return self._held

    def add(self, record: SpanRecord, now: float, tag: int | None = None) -> None:
        """Hold one span for its trace."""
        limits = self.limits
        key = record.span.trace_id
        trace = self._traces.get(key)
        if trace is None:
            trace = self._reopen(key, record, now, tag)
            if trace is None:
                return  # a span the trace, closed meanwhile, already had
        elif record.span.span_id in trace.span_ids:
            return  # a retried or fanned-out export sent this span again
        trace.span_ids.add(record.span.span_id)
        trace.last_seen = now
        if tag is not None and (trace.tag is None or tag < trace.tag):
            self._drop_tag(trace.tag)
            self._hold_tag(tag)
            trace.tag = tag
        if record.span.parent_span_id is None:
            trace.root_ended = True
        if trace.root_ended:
            self._ended[key] = trace
            self._ended.move_to_end(key)
        if len(trace.records) >= limits.max_spans_per_trace:
            trace.dropped_spans += 1
            self.counters.spans_dropped += 1
            return
        trace.records.append(record)
        self._held += 1

    def _reopen(self, key: str, record: SpanRecord, now: float, tag: int | None) -> Group | None:
        """A new open trace for `key`, or the lingering closed one a late span reopens."""
        lingering = self._lingering.pop(key, None)
        if lingering is None:
            trace = self._traces[key] = Group(key, now, now, tag=tag)
            self._hold_tag(tag)
            return trace
        _, trace = lingering
        self._lingering_spans -= len(trace.records)
        if record.span.span_id in trace.span_ids:
            self._linger(trace, now)  # a replay of a span it has: nothing to judge again
            return None
        self.counters.traces_reopened += 1
        trace.first_seen = now
        self._traces[key] = trace
        self._held += len(trace.records)
        return trace

    def _hold_tag(self, tag: int | None) -> None:
        if tag is not None:
            self._tags[tag] = self._tags.get(tag, 0) + 1

    def _drop_tag(self, tag: int | None) -> None:
        if tag is not None:
            left = self._tags[tag] - 1
            if left:
                self._tags[tag] = left
            else:
                del self._tags[tag]

    def _linger(self, trace: Group, now: float) -> None:
        if trace.evicted:
            self._drop_tag(trace.tag)
            return  # memory pressure closed it; keeping it would defeat the bound
        self._lingering[trace.key] = (now, trace)
        self._lingering_spans += len(trace.records)

    def _expire_lingering(self, now: float) -> None:
        limits = self.limits
        while self._lingering:
            closed_at, trace = next(iter(self._lingering.values()))
            if (
                now - closed_at < limits.linger_s
                and self._lingering_spans <= limits.max_lingering_spans
            ):
                break
            self._lingering.popitem(last=False)
            self._lingering_spans -= len(trace.records)
            self._drop_tag(trace.tag)

    def closed_traces(self, now: float, *, ended_roots: bool = False) -> list[Group]:
        """Traces whose root ended and went quiet, that timed out, or that memory evicts.

        With `ended_roots`, a trace whose root has ended closes without the quiet period.
        """
        limits = self.limits
        out: list[Group] = []
        quiet_s = 0.0 if ended_roots else limits.quiet_s
        # Both orders let this stop at the first trace that is not due.
        while self._ended:
            key, trace = next(iter(self._ended.items()))
            if now - trace.last_seen < quiet_s:
                break
            out.append(self._pop_trace(key))
        while self._traces:
            key, trace = next(iter(self._traces.items()))
            if now - trace.first_seen < limits.timeout_s:
                break
            out.append(self._pop_trace(key))
        while self._traces and (
            len(self._traces) > limits.max_traces or self._held > limits.max_held_spans
        ):
            oldest = next(iter(self._traces))
            trace = self._pop_trace(oldest)
            trace.evicted = "trace closed early: too many open traces or spans held"
            self.counters.traces_evicted += 1
            out.append(trace)
        self.counters.traces_closed += len(out)
        for trace in out:
            self._linger(trace, now)
        self._expire_lingering(now)
        return out

    def _pop_trace(self, key: str) -> Group:
        trace = self._traces.pop(key)
        self._ended.pop(key, None)
        self._held -= len(trace.records)
        return trace

    def run(self, run_key: str) -> Group | None:
        """The open run of a session, if any."""
        return self._runs.get(run_key)

    def run_full(self, run: Group) -> bool:
        """Whether a run holds as many spans as a run may (`max_spans_per_trace` x 4)."""
        return len(run.records) >= self._run_room

    def split_run(self, run_key: str) -> Group:
        """Close a full run early (its session goes on as a new run); counted as evicted."""
        run = self._runs.pop(run_key)
        run.evicted = f"run closed early: its session held over {self._run_room} spans"
        self.counters.runs_evicted += 1
        self.counters.runs_closed += 1
        return run

    def join_run(self, trace: Group, run_key: str, now: float) -> None:
        """Add a closed trace's spans to its run (the run is held until its window passes)."""
        run = self._runs.get(run_key)
        if run is None:
            run = self._runs[run_key] = Group(run_key, now, now)
        run.last_seen = now
        self._runs.move_to_end(run_key)
        fresh = [r for r in trace.records if (r.span.trace_id, r.span.span_id) not in run.keys]
        room = max(0, self._run_room - len(run.records))
        run.records.extend(fresh[:room])
        run.keys.update((r.span.trace_id, r.span.span_id) for r in fresh[:room])
        run.dropped_spans += trace.dropped_spans + max(0, len(fresh) - room)
        if trace.evicted and not run.evicted:
            run.evicted = trace.evicted

    def restore_run(self, run_key: str, records: list[SpanRecord], now: float) -> None:
        """Hold a run's records again (after a restart), as if its traces had just joined it."""
        run = self._runs.get(run_key)
        if run is None:
            run = self._runs[run_key] = Group(run_key, now, now)
        fresh = [r for r in records if (r.span.trace_id, r.span.span_id) not in run.keys]
        room = max(0, self._run_room - len(run.records))
        run.records.extend(fresh[:room])
        run.keys.update((r.span.trace_id, r.span.span_id) for r in fresh[:room])

    def closed_runs(self, now: float) -> list[Group]:
        """Runs whose window passed with no new trace, or that memory evicts."""
        out: list[Group] = []
        while self._runs:
            key, run = next(iter(self._runs.items()))
            if now - run.last_seen < self.limits.run_window_s:
                break
            out.append(self._runs.pop(key))
        while len(self._runs) > self.limits.max_runs:
            run = self._runs.pop(next(iter(self._runs)))
            run.evicted = "run closed early: too many open runs"
            self.counters.runs_evicted += 1
            out.append(run)
        self.counters.runs_closed += len(out)
        return out

    def close_all_traces(self) -> list[Group]:
        """Every open trace, for shutdown or the end of a backfill."""
        traces = [self._pop_trace(key) for key in list(self._traces)]
        self.counters.traces_closed += len(traces)
        for trace in traces:
            self._drop_tag(trace.tag)
        self.forget_lingering()
        return traces

    def close_all_runs(self) -> list[Group]:
        """Every open run, after `close_all_traces` fed them their last traces."""
        runs = list(self._runs.values())
        self._runs.clear()
        self.counters.runs_closed += len(runs)
        return runs

    def forget_lingering(self) -> None:
        """Drop every lingering closed trace (a clean stop: their sources may be released)."""
        for _, trace in self._lingering.values():
            self._drop_tag(trace.tag)
        self._lingering.clear()
        self._lingering_spans = 0

    def oldest_tag(self) -> int | None:
        """The oldest source position an open or lingering trace still needs, or None.

        A lingering trace counts: if a late span reopens it after a restart, the source
        must still hold the spans it had, or it would be judged on its late part alone.
        """
        return min(self._tags) if self._tags else None
