"""`ExceptionLogProcessor`: the in-process source, an OpenTelemetry SDK span processor.

Threading contract: `on_end` runs on the application's thread. It only appends
the span to a bounded in-memory queue and returns; it never blocks on rule work
or I/O and never raises. A single worker thread runs the drive loop
(`spansift.drive`): converts spans, runs the rules and writes to DuckDB in
batches. When the queue is full the span is dropped and counted, and the gap is
recorded in `evidence_gaps`, so a reader of the log can see that evidence is missing.

The application never fails because of the log: the database is opened on the
worker. When another process holds it (`spansift serve`, or a sibling worker of a
multi-process server), spans go to the receiver named in `<db>.serve.json`; with no
receiver, the processor warns once, keeps trying to open the file, and counts what it
could not record. After `fork()` (gunicorn, uWSGI, multiprocessing) the child starts a
worker of its own, as the SDK's batch processor does.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from spansift.decide.owners import OwnerRule, load_owners, load_section, router
from spansift.drive import Driver
from spansift.errors import SpansiftError
from spansift.export import attach_otel
from spansift.model import Span
from spansift.notify.push import Notifier
from spansift.notify.webhooks import Hook, parse_hooks
from spansift.rules import RuleSet, load_ruleset
from spansift.sources.forward import Forwarder
from spansift.sources.sdk import as_spans
from spansift.store.log import DEFAULT_DB, ExceptionLog

_logger = logging.getLogger(__name__)
_WRITE_HITS = 5000  # hits held by the worker before it writes them mid-drain
_REOPEN_S = 5.0  # how often a worker without the database tries to open it again
_FORK_WAIT_S = 15.0  # how long a fork waits for the worker's current step
_READY_WAIT_S = 1.0  # how long the first `is_suspended` waits for the worker to open the log


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
        self.ruleset = rules if isinstance(rules, RuleSet) else load_ruleset(rules, contracts)
        self.db = str(db)
        if owners is None and isinstance(contracts, (str, Path)):
            owners = contracts  # its `owners:` section, if any
        if isinstance(owners, (str, Path)):
            owners = load_owners(owners)
        self._route_owner = router(owners or ())
        self._otel_export = otel_export
        if webhooks is None and isinstance(contracts, (str, Path)):
            webhooks = contracts  # its `webhooks:` section, if any
        if isinstance(webhooks, (str, Path)):
            webhooks = parse_hooks(load_section(webhooks, "webhooks"), str(webhooks))
        self._webhooks = tuple(webhooks or ())
        self._max_queue = max_queue_size
        self._batch = batch_size
        # Wake the worker early only when the queue is a quarter full; else each interval.
        self._wake_at = max(batch_size, max_queue_size // 4)
        self._interval_s = flush_interval_ms / 1000
        self.dropped_spans = 0
        self.worker_errors = 0
        self._start()
        # A forked child must not share the parent's worker, queue or database handle.
        owner = weakref.ref(self)
        os.register_at_fork(
            before=lambda: _hold_for_fork(owner),
            after_in_parent=lambda: _release_after_fork(owner),
            after_in_child=lambda: _restart_in_child(owner),
        )

    def _start(self) -> None:
        self._queue: deque[ReadableSpan | Span] = deque()
        self._wake = threading.Event()
        self._waiters: list[threading.Event] = []
        self._waiters_lock = threading.Lock()
        self._stopping = False
        self._driver: Driver | None = None
        self._log: ExceptionLog | None = None
        self._forwarder: Forwarder | None = None
        self._opened_at = 0.0
        self._warned = False
        self._gap_first_ns = 0
        self._gap_last_ns = 0
        self._gap_recorded = self.dropped_spans
        # Held while the worker works, and by a fork: a child never inherits a lock
        # (DuckDB's, a socket's) that a half-done step of the parent's worker held.
        self._busy = threading.Lock()
        self._held_for_fork = False
        self._ready = threading.Event()  # set once the worker has first tried to open the log
        self._otel: Any = None
        self._notifier: Notifier | None = None
        self._worker = threading.Thread(target=self._run, name="spansift-processor", daemon=True)
        self._worker.start()

    @property
    def pipeline(self) -> Any:
        """The worker's pipeline (None until the database is open)."""
        return self._driver.pipeline if self._driver is not None else None

    # -- application thread -------------------------------------------------

    def on_end(self, span: ReadableSpan) -> None:
        try:
            queue = self._queue
            if len(queue) >= self._max_queue or self._stopping:
                self._drop(1)
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

    def _drop(self, count: int) -> None:
        now = time.time_ns()
        if not self._gap_first_ns:
            self._gap_first_ns = now
        self._gap_last_ns = now
        self.dropped_spans += count

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
        if self._log is not None:
            self._log.close()

    def is_suspended(self, agent: str | None, workflow: str | None = None) -> bool:
        """Whether `spansift suspend` switched this agent (or workflow) off.

        Safe on any thread: reads a set the worker refreshes about once a second; no I/O.
        The first call may wait (at most a second) for the worker to open the log.
        """
        self._ready.wait(_READY_WAIT_S)
        log = self._log
        return log.is_suspended(agent, workflow) if log is not None else False

    # -- worker thread -------------------------------------------------------

    def _run(self) -> None:
        with self._busy:
            self._open()
        self._ready.set()
        while True:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            stopping = self._stopping
            with self._waiters_lock:
                waiters, self._waiters = self._waiters, []
            with self._busy:
                self._open()
                self._drain()
                # A flush also closes traces whose root has ended, without the quiet period.
                self._close(ended_roots=bool(waiters) or stopping, finish=stopping)
            for waiter in waiters:
                waiter.set()
            if stopping:
                return

    def _open(self) -> None:
        """Open the log (or find the receiver holding it); retried every `_REOPEN_S`."""
        if self._driver is not None or time.monotonic() - self._opened_at < _REOPEN_S:
            return
        self._opened_at = time.monotonic()
        try:
            log = ExceptionLog(self.db)
        except SpansiftError as exc:
            self._forwarder = Forwarder.for_db(self.db)
            if self._forwarder is None and not self._warned:
                self._warned = True
                _logger.warning(
                    "spansift: cannot open %s (%s) and no spansift serve holds it; spans are "
                    "counted as lost until it can be opened",
                    self.db,
                    exc,
                )
            return
        self._log = log
        self._forwarder = None
        log.route_owner = self._route_owner
        self._otel = attach_otel(log, self._otel_export)
        if self._webhooks:
            self._notifier = Notifier(log, self._webhooks)
            log.listeners.append(self._notifier.listener)
            self._notifier.start()
        self._driver = Driver(self.ruleset, log, source="processor")
        try:
            log.set_fingerprints(self.ruleset.fingerprints())
            self._driver.restore()
        except Exception:
            self.worker_errors += 1
            _logger.exception("spansift: could not restore open runs")

    def _drain(self) -> None:
        # Hits of every batch queued now go to DuckDB in one transaction: a write costs
        # milliseconds however few rows it has, so fewer, larger writes keep the worker
        # (and its share of the GIL) small.
        queue = self._queue
        while queue:
            batch: list[ReadableSpan | Span] = []
            try:
                while len(batch) < self._batch:
                    batch.append(queue.popleft())
            except IndexError:
                pass
            driver = self._driver
            if driver is None:
                spans = as_spans(batch)
                forwarder = self._forwarder
                if forwarder is None or not forwarder.send(spans):
                    self._drop(len(spans))
                continue
            try:
                driver.sdk_spans(batch)
            except Exception:
                self.worker_errors += 1
                _logger.exception("spansift: failed to process %d spans", len(batch))
            if driver.pending >= _WRITE_HITS:
                self._commit()

    def _close(self, *, ended_roots: bool, finish: bool) -> None:
        driver = self._driver
        if driver is None:
            return
        try:
            if finish:
                driver.finish()
            else:
                driver.tick(ended_roots=ended_roots)
        except Exception:
            self.worker_errors += 1
            _logger.exception("spansift: failed to evaluate closed traces")
        self._commit()
        self._record_gap()

    def _commit(self) -> None:
        driver = self._driver
        if driver is None:
            return
        try:
            driver.commit()
        except Exception:
            self.worker_errors += 1
            _logger.exception("spansift: failed to write exceptions; will retry")

    def _record_gap(self) -> None:
        lost = self.dropped_spans
        if lost == self._gap_recorded or self._log is None:
            return
        first, last = self._gap_first_ns, self._gap_last_ns
        try:
            self._log.record_gap(
                "processor",
                first,
                last,
                lost - self._gap_recorded,
                f"in-process queue full (max_queue_size={self._max_queue}) or log unavailable",
            )
            self._gap_recorded = lost
        except Exception:
            self.worker_errors += 1
            _logger.exception("spansift: failed to record an evidence gap")


def _hold_for_fork(owner: weakref.ref[ExceptionLogProcessor]) -> None:
    """Before fork: let the worker finish its step (bounded, so a fork never hangs)."""
    processor = owner()
    if processor is not None:
        processor._held_for_fork = processor._busy.acquire(timeout=_FORK_WAIT_S)


def _release_after_fork(owner: weakref.ref[ExceptionLogProcessor]) -> None:
    processor = owner()
    if processor is not None and processor._held_for_fork:
        processor._held_for_fork = False
        processor._busy.release()


def _restart_in_child(owner: weakref.ref[ExceptionLogProcessor]) -> None:
    """After fork: forget the parent's worker and database handle, start afresh."""
    processor = owner()
    if processor is not None and not processor._stopping:
        # Keep the parent's database handle referenced, never closed or collected here:
        # closing it in the child could checkpoint into a file the parent still writes.
        _INHERITED.append((processor._log, processor._driver))
        processor._start()


_INHERITED: list[object] = []
