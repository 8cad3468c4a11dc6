"""Traffic: runs seen per workflow per UTC day, the denominator of the autonomy signal.

A run is counted once, at its root span (a span without a parent). Its workflow is the one
the root names (`workflow`), else its `service.name`: the run model's own fallback when no
contract names a workflow. Sources feed every span they hand the pipeline; the driver
records `take()` with `ExceptionLog.record_runs` after each write.

Replays (a spool replayed after a crash, a Collector retry) are recognised by trace id
within the last `REMEMBER` runs; a file ingested twice is counted twice.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from datetime import date

from spansift.model import Signal, Span
from spansift.normalize import fields_of
from spansift.store.rows import utc_from_ns

REMEMBER = 100_000


class RunCounter:
    """Counts root spans per (day, workflow). One thread at a time, like the pipeline."""

    def __init__(self, signals: Sequence[Signal] = ()) -> None:
        self._signals = signals
        self._counts: Counter[tuple[date, str]] = Counter()
        self._seen: OrderedDict[str, None] = OrderedDict()

    def add(self, spans: Iterable[Span]) -> None:
        for span in spans:
            if span.parent_span_id or span.trace_id in self._seen:
                continue
            self._seen[span.trace_id] = None
            if len(self._seen) > REMEMBER:
                self._seen.popitem(last=False)
            fields = fields_of(span, self._signals)
            workflow = fields.get("workflow") or fields.get("service.name")
            if isinstance(workflow, str) and workflow:
                self._counts[(utc_from_ns(span.end_ns or span.start_ns).date(), workflow)] += 1

    def take(self) -> dict[tuple[date, str], int]:
        """The counts since the last call (and forget them)."""
        counts, self._counts = dict(self._counts), Counter()
        return counts
