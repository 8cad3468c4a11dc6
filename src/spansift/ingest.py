"""Backfill: OTLP files through the drive loop into the exception log, on event time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spansift.drive import Driver
from spansift.errors import InputError
from spansift.rules import RuleSet
from spansift.sources.files import Chunk, iter_file, iter_paths
from spansift.store.kept import TraceKeeper
from spansift.store.log import ExceptionLog
from spansift.traces import AssemblyLimits

WRITE_BATCH = 2000


@dataclass(slots=True)
class IngestResult:
    """What one ingest run read, found and wrote."""

    files: int = 0
    spans: int = 0
    hits: int = 0
    new_rows: int = 0
    rejected: list[InputError] = field(default_factory=list)
    traces_evicted: int = 0  # closed early to bound memory; their exceptions say so
    spans_dropped: int = 0  # beyond the per-trace limit, not kept as evidence
    interrupted: bool = False  # stopped by `should_stop`: traces still open were not judged


def ingest_paths(
    paths: Sequence[Path],
    ruleset: RuleSet,
    log: ExceptionLog,
    on_file_done: Callable[[Path], None] | None = None,
    on_progress: Callable[[Path, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    read: Callable[[Path], Iterable[Chunk]] = iter_file,
    *,
    limits: AssemblyLimits | None = None,
    keeper: TraceKeeper | None = None,
) -> IngestResult:
    """Run every span in `paths` (files or folders) through the rules into `log`.

        Traces close on event time (the latest span end read), so the rows depend on the
        spans, not on how fast they were read. Bad lines and files are collected in
        `rejected`; reading goes on. Hits are written in batches of `WRITE_BATCH`, so memory
        stays bounded on long backfills. `on_progress(path, bytes_read)` follows each chunk.
        When `should_stop()` turns true (checked per chunk) the hits found so far are
        written and the traces still open are left unjudged; reading the same files again
        completes the log. `read` turns one file into chunks (default: `iter_file`); `keeper`
    keeps the closed traces for `rederive` (`--keep-traces`).
    """
    result = IngestResult()
    log.set_fingerprints(ruleset.fingerprints())
    driver = Driver(ruleset, log, source="ingest", event_time=True, limits=limits, keeper=keeper)
    for path in iter_paths(list(paths)):
        result.files += 1
        for chunk in read(path):
            if chunk.error is not None:
                result.rejected.append(chunk.error)
            elif chunk.request is not None:
                driver.request(chunk.request, body=chunk.body or None)
            elif chunk.spans is not None:
                driver.spans(chunk.spans)
            if driver.pending >= WRITE_BATCH:
                driver.commit()
            if on_progress is not None:
                on_progress(path, chunk.offset)
            if should_stop is not None and should_stop():
                result.interrupted = True
                break
        if result.interrupted:
            break
        if on_file_done is not None:
            on_file_done(path)
    if result.interrupted:
        driver.tick(ended_roots=True)  # traces read whole are judged; open ones are not
    else:
        driver.finish()
    driver.commit()
    counters = driver.pipeline.assembler.counters
    result.traces_evicted = counters.traces_evicted
    result.spans_dropped = counters.spans_dropped
    result.spans = driver.spans_seen
    result.hits = driver.done.hits
    result.new_rows = driver.done.new_rows
    return result
