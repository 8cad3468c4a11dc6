"""Traffic: runs seen per workflow per UTC day, the denominator of the autonomy signal.

A run is counted once, at its root span (a span without a parent). Its workflow is the one
the root names (`workflow`), else its `service.name`: the run model's own fallback when no
contract names a workflow. The pipeline counts each root span with the fields it already
normalized; the driver records `take()` with `ExceptionLog.record_runs` at each commit.

Replays (a spool replayed after a crash, a Collector retry) are recognised by trace id
within the last `REMEMBER` runs; a file ingested twice is counted twice.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Mapping
from datetime import date

from spansift.model import AttrValue, Span
from spansift.store.rows import utc_from_ns

REMEMBER = 100_000


class RunCounter:
    """Counts root spans per (day, workflow). One thread at a time, like the pipeline."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[date, str]] = Counter()
        self._seen: OrderedDict[str, None] = OrderedDict()

    def add(self, root: Span, fields: Mapping[str, AttrValue]) -> None:
        """Count the run whose root span this is (`fields`: its canonical fields)."""
        if root.trace_id in self._seen:
            return
        self._seen[root.trace_id] = None
        if len(self._seen) > REMEMBER:
            self._seen.popitem(last=False)
        workflow = fields.get("workflow") or fields.get("service.name")
        if isinstance(workflow, str) and workflow:
            self._counts[(utc_from_ns(root.end_ns or root.start_ns).date(), workflow)] += 1

    def take(self) -> dict[tuple[date, str], int]:
        """The counts since the last call (and forget them)."""
        counts, self._counts = dict(self._counts), Counter()
        return counts

    def merge(self, counts: Mapping[tuple[date, str], int]) -> None:
        """Add counts another counter took (a pipeline running in another process)."""
        self._counts.update(counts)
