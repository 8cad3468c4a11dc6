"""The one thread that turns spooled requests into exception rows.

It reads the spool in order, runs the pipeline, writes the hits of a batch in
one DuckDB transaction and only then tells the spool the batch is consumed.
A crash between the commit and `consume` replays the batch on the next start,
which adds no rows because exception ids are deterministic.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING

from spansift.model import Hit
from spansift.receiver._spool import KIND_JSON, Record, Spool
from spansift.runcount import RunCounter
from spansift.sources.otlp_json import parse_json
from spansift.sources.otlp_proto import decode_request, spans_from_request

if TYPE_CHECKING:
    from spansift.pipeline import Pipeline
    from spansift.receiver._stats import Counters
    from spansift.store.log import ExceptionLog

_logger = logging.getLogger(__name__)
MAX_WAIT_S = 0.2  # the longest an accepted request waits before the worker looks at the spool
BATCH_RECORDS = 64
BATCH_BYTES = 4 << 20
RETRY_S = 0.5


class Worker:
    """Owns the `ExceptionLog` and the `Pipeline`; both are used only on its thread.

    `start()` launches the thread. `stop(deadline)` asks it to finish the
    backlog (the spool must already refuse appends) and waits until the
    deadline (a `time.monotonic()` value); it returns True if the backlog was drained.
    """

    def __init__(
        self,
        spool: Spool,
        pipeline: Pipeline,
        log: ExceptionLog,
        counters: Counters,
        *,
        pause_file: str | None = None,
    ) -> None:
        self.spool = spool
        self.pipeline = pipeline
        self.log = log
        self.counters = counters
        self.committed_at = 0.0  # time.time() of the last commit, for stats
        self._pause_file = pause_file  # test hook: while this file exists, nothing is processed
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spansift-worker", daemon=True)
        self.runs = RunCounter(pipeline.ruleset.contracts.signals)  # traffic per workflow

    def start(self) -> None:
        self._thread.start()

    def stop(self, deadline: float) -> bool:
        self._stopping.set()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive() and self.spool.backlog()[1] == 0

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        spool = self.spool
        while True:
            if not spool.wait(MAX_WAIT_S):
                if self._stopping.is_set() and spool.backlog()[1] == 0:
                    # Traces whose root ended are decided now; the rest stay in the spool
                    # and are reassembled when the receiver starts again.
                    self._close_traces(ended_roots=True)
                    return
                self._close_traces()
                continue
            if self._pause_file and os.path.exists(self._pause_file):
                if self._stopping.wait(MAX_WAIT_S / 4):
                    return
                continue
            records = spool.read(BATCH_RECORDS, BATCH_BYTES)
            hits, spans = self._process(records)
            hits.extend(self.pipeline.flush())
            while not self._commit(records, hits, spans):
                # While stopping, a failing database is not retried: the spool keeps the data.
                if self._stopping.wait(RETRY_S):
                    return

    def _process(self, records: list[Record]) -> tuple[list[Hit], int]:
        hits: list[Hit] = []
        spans = 0
        pipeline = self.pipeline
        for record in records:
            before = pipeline.counts.spans
            tag = record.end[0]  # its spool segment: kept while a trace needs it
            try:
                if record.kind == KIND_JSON:
                    decoded = list(parse_json(record.payload))
                else:
                    decoded = list(spans_from_request(decode_request(record.payload)))
                self.runs.add(decoded)
                hits.extend(pipeline.spans(decoded, tag))
            except Exception as exc:  # a poison record must not stop the receiver
                self._poison(record, exc)
            spans += pipeline.counts.spans - before
        return hits, spans

    def _close_traces(self, *, ended_roots: bool = False) -> None:
        """While idle: evaluate traces (and runs) that went quiet, and write their hits."""
        try:
            hits = self.pipeline.flush(ended_roots=ended_roots)
        except Exception as exc:
            self.counters.error(f"closing traces failed: {exc}")
            return
        if (not hits or self._commit([], hits, 0)) and not self.spool.backlog()[1]:
            self.spool.release(self.pipeline.oldest_open_tag())

    def _poison(self, record: Record, exc: Exception) -> None:
        message = f"spooled request could not be processed: {type(exc).__name__}: {exc}"
        _logger.error("spansift serve: %s", message)
        self.counters.error(message)
        now = time.time_ns()
        try:
            self.log.record_gap("receiver", now, now, 0, message[:500])
        except Exception:
            _logger.exception("spansift serve: cannot record an evidence gap")

    def _commit(self, records: list[Record], hits: list[Hit], spans: int) -> bool:
        try:
            written = self.log.write(hits)
            pipeline = self.pipeline
            self.log.record_losses("receiver", pipeline.take_losses())
            self.log.record_runs(self.runs.take())
        except Exception as exc:
            message = f"writing {len(hits)} exceptions failed, will retry: {exc}"
            _logger.error("spansift serve: %s", message)
            self.counters.error(message)
            return False
        self.spool.consume(records, keep_from=self.pipeline.oldest_open_tag())
        self.committed_at = time.time()
        self.counters.processed(len(records), spans, len(hits), written)
        return True
