"""The one thread that turns spooled requests into exception rows.

It reads the spool in order and hands each request to a `Driver` (the drive loop
every source shares), which commits the hits, the state of open runs and anything
quarantined in one DuckDB transaction; only then is the batch consumed from the
spool. A crash between the commit and `consume` replays the batch on the next
start, which adds no rows because exception ids are deterministic. Segments that an
open or lingering trace still needs are kept, so a replay sees whole traces; runs
are restored from the log.

A record that cannot be decoded or processed is quarantined (with an evidence gap)
and the rest flows on; a database that refuses writes is retried without consuming.

With a judge process (`serve --judges 1`, see `_judge`) the driver's pipeline runs
there: the worker sends each batch as bytes and commits the outcome, sending the next
batch first so the judge works while the database writes. If the judge dies, the worker
starts another, restores the open runs from the log and reads the spool again from its
oldest segment, exactly as a restart of the receiver would. A judge that dies with
records in flight makes them suspects: until they are committed, the spool is read
one record at a time, and a record in flight at two deaths is quarantined unjudged,
so one request that kills the judge cannot stop the receiver.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from spansift.receiver._judge import JudgedPipeline, JudgeLostError
from spansift.receiver._spool import KIND_JSON, KIND_PROTOBUF, Record, Spool
from spansift.sources.otlp_json import parse_json
from spansift.sources.otlp_proto import decode_request

if TYPE_CHECKING:
    from spansift.drive import Driver
    from spansift.receiver._stats import Counters

_logger = logging.getLogger(__name__)
MAX_WAIT_S = 0.2  # the longest an accepted request waits before the worker looks at the spool
BATCH_RECORDS = 64
BATCH_BYTES = 4 << 20
RETRY_S = 0.5
DEATHS_TO_QUARANTINE = 2  # judge deaths a record was in flight at before it is quarantined


class Worker:
    """Owns the `Driver` (its log and pipeline); both are used only on its thread.

    `start()` restores open runs and launches the thread. `stop(deadline)` asks it to
    finish the backlog (the spool must already refuse appends) and waits until the
    deadline (a `time.monotonic()` value); it returns True if the backlog was drained.
    """

    def __init__(
        self,
        spool: Spool,
        driver: Driver,
        counters: Counters,
        *,
        pause_file: str | None = None,
    ) -> None:
        self.spool = spool
        self.driver = driver
        self.counters = counters
        self.committed_at = 0.0  # time.time() of the last commit, for stats
        self.restored_traces = 0
        pipeline = driver.pipeline
        self.judge = pipeline if isinstance(pipeline, JudgedPipeline) else None
        self._pause_file = pause_file  # test hook: while this file exists, nothing is processed
        self._stopping = threading.Event()
        self._closing = False
        self._in_flight: list[Record] = []  # sent to the judge, outcome not yet taken
        self._deaths: dict[tuple[int, int], int] = {}  # suspect record -> judge deaths
        self._thread = threading.Thread(target=self._run, name="spansift-worker", daemon=True)

    def start(self) -> None:
        if self.judge is not None:
            self.judge.start()
        self.restored_traces = self.driver.restore()
        self._thread.start()

    def stop(self, deadline: float) -> bool:
        self._stopping.set()
        if self._thread.is_alive():  # not started when the judge could not start
            self._thread.join(max(0.0, deadline - time.monotonic()))
        if self.judge is not None:
            self._closing = True  # a thread still busy must not start another judge
            self.judge.close(max(1.0, deadline - time.monotonic()))
        return not self._thread.is_alive() and self.spool.backlog()[1] == 0

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            try:
                self._drive()
                return
            except JudgeLostError as exc:
                for record in self._in_flight:
                    self._deaths[record.end] = self._deaths.get(record.end, 0) + 1
                self._in_flight = []
                if self._closing or not self._restart_judge(str(exc)):
                    return

    def _drive(self) -> None:
        spool = self.spool
        sent: list[Record] | None = None  # with a judge: the batch it is working on
        while True:
            if sent is None:
                if not spool.wait(MAX_WAIT_S):
                    if self._stopping.is_set() and spool.backlog()[1] == 0:
                        # Traces whose root ended are decided now; the rest stay in the spool
                        # and are reassembled when the receiver starts again.
                        self._close_traces(ended_roots=True, stopping=True)
                        return
                    self._close_traces()
                    continue
                if self._paused():
                    if self._stopping.wait(MAX_WAIT_S / 4):
                        return
                    continue
                sent = self._send(self._read())
            records, sent = sent, None
            spans = self._take(records)
            careful = bool(self._deaths)  # one batch at a time, so a death names its record
            if self.judge is not None and not careful and spool.wait(0.0) and not self._paused():
                sent = self._send(self._read())
            while not self._commit(records, spans):
                # While stopping, a failing database is not retried: the spool keeps the data.
                if self._stopping.wait(RETRY_S):
                    return

    def _paused(self) -> bool:
        return self._pause_file is not None and os.path.exists(self._pause_file)

    def _read(self) -> list[Record]:
        """The next batch; one record at a time while a dead judge's suspects are ahead."""
        return self.spool.read(1 if self._deaths else BATCH_RECORDS, BATCH_BYTES)

    def _send(self, records: list[Record]) -> list[Record]:
        judge = self.judge
        if judge is None:
            return records
        if not self._deaths:  # the usual case: no judge died on records still unread
            self._in_flight += records
            judge.submit(records)
            return records
        submitted = []
        for record in records:
            if self._deaths.get(record.end, 0) >= DEATHS_TO_QUARANTINE:
                self._poison(record, "the judge process died on it twice; not judged")
                # In its place, an empty request: nothing to judge, and the batch keeps
                # its positions (the outcome names poisoned records by index).
                submitted.append(replace(record, kind=KIND_PROTOBUF, payload=b""))
            else:
                submitted.append(record)
        self._in_flight += submitted
        judge.submit(submitted)
        return records

    def _take(self, records: list[Record]) -> int:
        """Process `records` (or take the judge's outcome of them); the spans they held."""
        judge = self.judge
        if judge is None:
            spans = self._process(records)
            self._tick()
            return spans
        outcome = judge.collect()
        del self._in_flight[: len(records)]
        self.driver.done.pending.extend(outcome.hits)
        for index, reason in outcome.poisoned:
            self._poison(records[index], reason)
        return outcome.seen

    def _restart_judge(self, why: str) -> bool:
        """Start another judge and read the spool again; False if stopping meanwhile."""
        message = f"{why}; starting another and replaying the spool"
        _logger.error("spansift serve: %s", message)
        self.counters.error(message)
        assert self.judge is not None
        while True:
            try:
                self.judge.start()
                with self.driver.log.lock:
                    self.driver.restore()
                break
            except JudgeLostError as exc:
                self.counters.error(str(exc))
                if self._stopping.wait(RETRY_S):
                    return False
        self.spool.rewind()
        return True

    def _process(self, records: list[Record]) -> int:
        driver = self.driver
        before = driver.spans_seen
        for record in records:
            tag = record.end[0]  # its spool segment: kept while a trace needs it
            try:
                if record.kind == KIND_JSON:  # spooled by an older version
                    driver.spans(parse_json(record.payload), tag)
                else:
                    driver.request(decode_request(record.payload), tag, record.payload)
            except Exception as exc:  # a poison record must not stop the receiver
                self._poison(record, f"{type(exc).__name__}: {exc}")
        return driver.spans_seen - before

    def _tick(self, *, ended_roots: bool = False) -> bool:
        try:
            self.driver.tick(ended_roots=ended_roots)
        except Exception as exc:
            self.counters.error(f"closing traces failed: {type(exc).__name__}: {exc}")
            _logger.exception("spansift serve: closing traces failed")
            return False
        return True

    def _close_traces(self, *, ended_roots: bool = False, stopping: bool = False) -> None:
        """While idle: evaluate traces (and runs) that went quiet, and write their hits."""
        judge = self.judge
        if judge is not None:
            # A clean stop keeps no lingering trace (as below), in the judge.
            hits = judge.tick(ended_roots=ended_roots, forget_lingering=stopping).hits
            self.driver.done.pending.extend(hits)
        elif not self._tick(ended_roots=ended_roots):
            return
        elif stopping:
            # A clean stop keeps no lingering trace: a late span after the restart is
            # judged on its own and marked incomplete.
            self.driver.pipeline.assembler.forget_lingering()
        if self._commit([], 0) and not self.spool.backlog()[1]:
            self.spool.release(self.driver.pipeline.oldest_open_tag())

    def _poison(self, record: Record, reason: str) -> None:
        message = f"spooled request could not be processed: {reason}"
        _logger.error("spansift serve: %s", message)
        self.counters.error(message)
        kind = "json" if record.kind == KIND_JSON else "protobuf"
        self.driver.quarantine(kind, record.payload, message)

    def _commit(self, records: list[Record], spans: int) -> bool:
        driver = self.driver
        hits = driver.pending
        try:
            written = driver.commit()
        except Exception as exc:
            message = f"writing {hits} exceptions failed, will retry: {exc}"
            _logger.error("spansift serve: %s", message)
            self.counters.error(message)
            return False
        if records:
            self.spool.consume(records, keep_from=driver.pipeline.oldest_open_tag())
            for record in records:
                self._deaths.pop(record.end, None)
        self.committed_at = time.time()
        self.counters.processed(len(records), spans, hits, written)
        return True
