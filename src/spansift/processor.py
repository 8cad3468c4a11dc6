"""`ExceptionLogProcessor`: the in-process source, an OpenTelemetry SDK span processor.

Threading contract: `on_end` runs on the application's thread. It only appends
the span to a bounded in-memory queue and returns; it never blocks on rule work
or I/O and never raises. A single worker thread converts spans, runs the rules
and writes hits to DuckDB in batches. When the queue is full the span is
dropped and counted, and the worker records the gap in `evidence_gaps`, so a
reader of the log can see that evidence is missing for that period.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from spansift.export import attach_otel
from spansift.model import Hit, Span
from spansift.pipeline import Pipeline
from spansift.review.actions import sync_fingerprints
from spansift.review.owners import OwnerRule, load_owners, load_section, router
from spansift.review.push import Notifier
from spansift.review.webhooks import Hook, parse_hooks
from spansift.rules import RuleSet, load_ruleset
from spansift.runcount import RunCounter
from spansift.sources.sdk import span_from_readable
from spansift.store.log import DEFAULT_DB, ExceptionLog

_logger = logging.getLogger(__name__)
_WRITE_HITS = 5000  # hits held by the worker before it writes them mid-drain


class ExceptionLogProcessor(SpanProcessor):
    """Runs spansift's rules on every ended span and writes exceptions to a DuckDB file.

    Args:
        db: the DuckDB file of the exception log (created if missing).
        rules: a `RuleSet`, or rule files/folders to load; `None` loads the default pack.
        contracts: a contracts file (or mapping) for the default pack; optional.
        max_queue_size: spans held for the worker; beyond it spans are dropped and counted.
        batch_size: spans processed per rule pass and DuckDB transaction.
        flush_interval_ms: how long the worker waits before processing a partial batch.
        owners: owner routing rules (or a YAML file with an `owners:` list) applied as rows
            are written; default: the `owners:` section of the contracts file, if any.
        otel_export: emit new exceptions and decisions as OTLP logs and metrics (see
            `spansift.export.otel`); None reads `SPANSIFT_OTEL_EXPORT`.
        webhooks: targets (or a YAML file with a `webhooks:` list) pushed one message per
            new or regressed pattern from a thread of their own; default: the contracts
            file's `webhooks:` section, if any.

    Loading rules happens here, on the caller's thread: bad rules raise
    `spansift.errors.ConfigError` listing every problem, before any span is seen.
    """

    def __init__(
        self,
        db: str | Path = DEFAULT_DB,
        rules: RuleSet | Sequence[str | Path] | None = None,
        contracts: str | Path | Mapping[str, Any] | None = None,
        *,
        max_queue_size: int = 8192,
        batch_size: int = 512,
        flush_interval_ms: int = 1000,
        owners: str | Path | Sequence[OwnerRule] | None = None,
        otel_export: bool | None = None,
        webhooks: str | Path | Sequence[Hook] | None = None,
    ) -> None:
        ruleset = rules if isinstance(rules, RuleSet) else load_ruleset(rules, contracts)
        self.pipeline = Pipeline(ruleset)
        self._log = ExceptionLog(db)
        if owners is None and isinstance(contracts, (str, Path)):
            owners = contracts  # its `owners:` section, if any
        if isinstance(owners, (str, Path)):
            owners = load_owners(owners)
        self._log.route_owner = router(owners or ())
        self._otel = attach_otel(self._log, otel_export)
        if webhooks is None and isinstance(contracts, (str, Path)):
            webhooks = contracts  # its `webhooks:` section, if any
        if isinstance(webhooks, (str, Path)):
            webhooks = parse_hooks(load_section(webhooks, "webhooks"), str(webhooks))
        self._notifier = Notifier(self._log, webhooks) if webhooks else None
        if self._notifier is not None:
            self._log.listeners.append(self._notifier.listener)
            self._notifier.start()
        sync_fingerprints(self._log, ruleset)
        self._queue: deque[ReadableSpan | Span] = deque()
        self._max_queue = max_queue_size
        self._batch = batch_size
        # Wake the worker early only when the queue is a quarter full; else each interval.
        self._wake_at = max(batch_size, max_queue_size // 4)
        self._interval_s = flush_interval_ms / 1000
        self._wake = threading.Event()
        self._waiters: list[threading.Event] = []
        self._waiters_lock = threading.Lock()
        self._stopping = False
        self.dropped_spans = 0
        self.worker_errors = 0
        self._gap_first_ns = 0
        self._gap_last_ns = 0
        self._gap_recorded = 0
        self._runs = RunCounter(ruleset.contracts.signals)  # traffic for the autonomy signal
        self._worker = threading.Thread(target=self._run, name="spansift-processor", daemon=True)
        self._worker.start()

    # -- application thread -------------------------------------------------

    def on_end(self, span: ReadableSpan) -> None:
        try:
            queue = self._queue
            if len(queue) >= self._max_queue or self._stopping:
                self._drop()
                return
            queue.append(span)
            if len(queue) >= self._wake_at:
                self._wake.set()
        except Exception:  # the application must never see our failures
            self.worker_errors += 1

    def submit(self, span: Span) -> None:
        """Queue an already converted `Span`, with `on_end`'s contract (never blocks or raises).

        For adapters that see a framework's own span objects rather than OTel spans
        (`spansift.agents_sdk.SpansiftTracingProcessor`): they share this queue and worker.
        """
        self.on_end(span)  # type: ignore[arg-type]  # the worker converts only ReadableSpans

    def _drop(self) -> None:
        now = time.time_ns()
        if not self._gap_first_ns:
            self._gap_first_ns = now
        self._gap_last_ns = now
        self.dropped_spans += 1

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Process every span ended so far; False if the deadline passed first."""
        if not self._worker.is_alive():
            return not self._queue
        done = threading.Event()
        with self._waiters_lock:
            self._waiters.append(done)
        self._wake.set()
        return done.wait(timeout_millis / 1000)

    def shutdown(self, timeout_millis: int = 30000) -> None:
        """Stop accepting spans, process what is queued, close the database."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self._worker.join(timeout_millis / 1000)
        if self._worker.is_alive():
            _logger.warning(
                "spansift: shutdown deadline passed with %d spans queued", len(self._queue)
            )
            return
        if self._notifier is not None:
            self._notifier.stop(time.monotonic() + timeout_millis / 1000)
        if self._otel is not None:
            self._otel.shutdown()
        self._log.close()

    # -- worker thread -------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            stopping = self._stopping
            with self._waiters_lock:
                waiters, self._waiters = self._waiters, []
            self._drain()
            # A flush also closes traces whose root has ended, without the quiet period.
            self._write(partial(self.pipeline.flush, ended_roots=bool(waiters)))
            for waiter in waiters:
                waiter.set()
            if stopping:
                self._drain()
                self._write(self.pipeline.finish)
                return

    def _write(self, hits_of: Callable[[], list[Hit]]) -> None:
        try:
            self._log.write(hits_of())
            pipeline = self.pipeline
            self._log.record_losses("processor", pipeline.take_losses())
            self._log.record_runs(self._runs.take())
        except Exception:
            self.worker_errors += 1
            _logger.exception("spansift: failed to evaluate or write closed traces")

    def _drain(self) -> None:
        # Hits of every batch queued now go to DuckDB in one transaction: a write costs
        # milliseconds however few rows it has, so fewer, larger writes keep the worker
        # (and its share of the GIL) small.
        queue = self._queue
        pending: list[Hit] = []
        while queue:
            batch: list[ReadableSpan | Span] = []
            try:
                while len(batch) < self._batch:
                    batch.append(queue.popleft())
            except IndexError:
                pass
            try:
                spans = [s if isinstance(s, Span) else span_from_readable(s) for s in batch]
                self._runs.add(spans)
                pending.extend(self.pipeline.spans(spans))
            except Exception:
                self.worker_errors += 1
                _logger.exception("spansift: failed to process %d spans", len(batch))
            if len(pending) >= _WRITE_HITS:
                self._write(pending.copy)
                pending.clear()
        if pending:
            self._write(pending.copy)
        self._record_gap()

    def _record_gap(self) -> None:
        lost = self.dropped_spans
        if lost == self._gap_recorded:
            return
        first, last = self._gap_first_ns, self._gap_last_ns
        try:
            self._log.record_gap(
                "processor",
                first,
                last,
                lost,
                f"in-process queue full (max_queue_size={self._max_queue})",
            )
            self._gap_recorded = lost
        except Exception:
            self.worker_errors += 1
            _logger.exception("spansift: failed to record an evidence gap")

    def is_suspended(self, agent: str | None, workflow: str | None = None) -> bool:
        """Whether `spansift suspend` switched this agent (or workflow) off.

        Safe on any thread: reads a set the worker refreshes about once a second; no I/O.
        """
        return self._log.is_suspended(agent, workflow)
