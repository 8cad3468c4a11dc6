"""The one drive loop between a source and the log, shared by every source.

A source (the in-process processor's queue, the receiver's spool, files being
ingested) hands a `Driver` its inputs; the driver runs them through the pipeline,
closes traces and runs as its clock says, and commits: the hits, the run state a
restart needs and any losses, in one transaction. Only after `commit` returns may the
source forget what it handed over (the spool consumes, the queue drops its batch).

Clocks: live sources use the wall clock (a trace closes `quiet_s` after its root
ended). Backfill uses **event time**: the clock is the latest span end read so far, so
the rows of an ingest depend on the data, never on how fast it was read.

One thread at a time; the driver does no threading of its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spansift.model import Hit, Span
from spansift.normalize import fields_of
from spansift.pipeline import Normalize, Pipeline
from spansift.sift import Sifter
from spansift.sources.otlp_proto import spans_from_request
from spansift.sources.sdk import as_spans
from spansift.store.kept import TraceKeeper
from spansift.store.quarantine import Quarantined, hit_payload, is_data_error, set_aside
from spansift.traces import AssemblyLimits, Group

if TYPE_CHECKING:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.sdk.trace import ReadableSpan

    from spansift.rules import RuleSet
    from spansift.store.log import ExceptionLog
    from spansift.store.run_states import RunState

# Backfill reads spans in the order they were exported, not the order they ended: give
# a trace more event time before closing it than a live receiver gives it wall time. A
# session in a file is whole: its resume joins it however long the approval took (a day).
EVENT_TIME_LIMITS = AssemblyLimits(
    quiet_s=30.0, timeout_s=300.0, linger_s=300.0, run_window_s=86_400.0
)


class EventClock:
    """Event time: the latest span end seen, in seconds (never goes back)."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def observe(self, spans: Iterable[Span]) -> None:
        latest = max((s.end_ns for s in spans), default=0) / 1e9
        self.now_s = max(self.now_s, latest)

    def __call__(self) -> float:
        return self.now_s


@dataclass(slots=True)
class Committed:
    """What a driver has written so far."""

    hits: int = 0
    new_rows: int = 0
    commits: int = 0
    quarantined: int = 0
    pending: list[Hit] = field(default_factory=list)
    aside: list[Quarantined] = field(default_factory=list)  # to quarantine at the next commit


class Driver:
    """Runs inputs through a pipeline into a log; see the module docstring."""

    def __init__(
        self,
        ruleset: RuleSet,
        log: ExceptionLog,
        *,
        source: str,
        event_time: bool = False,
        limits: AssemblyLimits | None = None,
        sift: bool = True,
        normalize: Normalize = fields_of,
        keeper: TraceKeeper | None = None,
        pipeline: Pipeline | None = None,
    ) -> None:
        self.log = log
        self.source = source
        self.event_clock = EventClock() if event_time else None
        clock = self.event_clock if self.event_clock is not None else time.monotonic
        chosen = limits or (EVENT_TIME_LIMITS if event_time else None)
        # A backfill (event time) closes every run at its end: it keeps no run state.
        # `pipeline` is one built elsewhere (the receiver's judge process, which also sifts).
        self.pipeline = pipeline or Pipeline(
            ruleset, limits=chosen, clock=clock, save_runs=not event_time, normalize=normalize
        )
        # Closed traces are kept as Parquet beside the log when that is on (`store.kept`).
        self.keeper = keeper
        if self.keeper is not None:
            self.pipeline.on_close = self._keep
        self._finished = False
        # Traces no agent touched are skipped when no rule could hit them.
        self.sifter = (
            Sifter(ruleset.contracts.signals)
            if sift and ruleset.agent_only and pipeline is None
            else None
        )
        self.done = Committed()

    # -- input ------------------------------------------------------------------

    def spans(self, spans: Iterable[Span], tag: int | None = None) -> None:
        """Process finished spans (closing what their arrival closes)."""
        if self.sifter is not None:
            spans = self.sifter.spans(spans)
        self._process(spans if isinstance(spans, list) else list(spans), tag)

    def sdk_spans(self, spans: Sequence[ReadableSpan | Span]) -> None:
        """Process finished SDK spans (the processor): converted only if the rules need them."""
        if self.sifter is not None:
            self._process(self.sifter.sdk_spans(spans), None)
        else:
            self._process(as_spans(spans), None)

    def _process(self, spans: list[Span], tag: int | None) -> None:
        if self.event_clock is not None:
            self.event_clock.observe(spans)
        self.done.pending.extend(self.pipeline.spans(spans, tag))

    def request(
        self, request: ExportTraceServiceRequest, tag: int | None = None, body: bytes | None = None
    ) -> None:
        """Process a decoded OTLP request (`body`: its bytes, if at hand, for a quick look)."""
        if self.sifter is not None:
            self._process(self.sifter.request(request, body), tag)
        else:
            self._process(spans_from_request(request), tag)

    @property
    def spans_seen(self) -> int:
        """Spans offered so far, whether the rules needed them or not."""
        return self.sifter.counts.seen if self.sifter is not None else self.pipeline.counts.spans

    def quarantine(self, kind: str, payload: bytes, reason: str, spans: int = 0) -> None:
        """Set an input aside that could not be processed (written at the next commit)."""
        self.done.aside.append(Quarantined(self.source, kind, reason, payload, spans))

    def tick(self, *, ended_roots: bool = False) -> None:
        """Close what the clock says is due (and, with `ended_roots`, every ended trace)."""
        self.done.pending.extend(self.pipeline.flush(ended_roots=ended_roots))

    def finish(self) -> None:
        """Close every open trace and run: the end of a backfill, or a shutdown."""
        self.done.pending.extend(self.pipeline.finish())
        self._finished = True  # the next commit writes every kept trace still buffered

    def _keep(self, traces: list[Group]) -> None:
        if self.keeper is not None:
            self.keeper.add(r for t in traces for r in t.records)

    def restore(self) -> int:
        """Open again the runs the log says a previous process left open."""
        return self.pipeline.restore_runs(self.log.load_run_state())

    # -- output -----------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self.done.pending)

    def commit(self) -> int:
        """Write pending hits, run state and losses in one transaction; the new row count.

        When the database refuses the *data* (text it cannot hold, a value out of range),
        the hits are written one by one and those refused are quarantined with the reason,
        so one poison row never stops the rest. Any other failure (a full disk) loses
        nothing: the pending hits stay pending and the run state is offered again, so the
        caller may retry (and must not acknowledge its inputs).
        """
        pipeline = self.pipeline
        run_state = pipeline.take_run_state()
        hits = self.done.pending
        try:
            try:
                new = self.log.write(hits, run_state)
            except Exception as exc:
                if not is_data_error(exc):
                    raise
                new = self._isolate(hits, run_state)
        except Exception:
            pipeline.give_back_run_state(run_state)
            raise
        done = self.done
        done.pending = []
        done.hits += len(hits)
        done.new_rows += new
        done.commits += 1
        if done.aside:
            set_aside(self.log, done.aside)
            done.quarantined += len(done.aside)
            done.aside = []
        self.log.record_losses(self.source, pipeline.take_losses())
        self.log.record_runs(pipeline.runs.take())
        keeper = self.keeper
        if keeper is not None and (self._finished or keeper.due()):
            keeper.flush()  # never raises: a failure is counted, the rows are written
        return new

    def _isolate(self, hits: list[Hit], run_state: RunState) -> int:
        """Write hits one by one; quarantine those (and a run state) the database refuses."""
        log = self.log
        new = 0
        for hit in hits:
            try:
                new += log.write([hit])
            except Exception as exc:
                if not is_data_error(exc):
                    raise
                self.quarantine("exception", hit_payload(hit), _why(exc), spans=1)
        try:
            log.write([], run_state)
        except Exception as exc:
            if not is_data_error(exc):
                raise
            runs = sorted({run for run, _, _ in run_state[0]})
            payload = json.dumps({"runs": runs}, ensure_ascii=True).encode()
            self.quarantine("run_state", payload, "open runs not saved: " + _why(exc))
        return new


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
