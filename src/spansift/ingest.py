"""Backfill: OTLP files through the pipeline into the exception log."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spansift.errors import InputError
from spansift.model import Hit
from spansift.pipeline import Pipeline
from spansift.review.actions import sync_fingerprints
from spansift.runcount import RunCounter
from spansift.sources.files import iter_file, iter_paths
from spansift.sources.otlp_proto import spans_from_request
from spansift.store.log import ExceptionLog

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


def ingest_paths(
    paths: Sequence[Path],
    pipeline: Pipeline,
    log: ExceptionLog,
    on_file_done: Callable[[Path], None] | None = None,
) -> IngestResult:
    """Run every span in `paths` (files or folders) through `pipeline` into `log`.

    Bad lines and files are collected in `rejected`; reading goes on. Hits are
    written in batches of `WRITE_BATCH`, so memory stays bounded on long backfills.
    """
    result = IngestResult()
    sync_fingerprints(log, pipeline.ruleset)
    pending: list[Hit] = []
    runs = RunCounter(pipeline.ruleset.contracts.signals)  # traffic for the autonomy signal
    spans_before, hits_before = pipeline.counts.spans, pipeline.counts.hits
    for path in iter_paths(list(paths)):
        result.files += 1
        for chunk in iter_file(path):
            if chunk.error is not None:
                result.rejected.append(chunk.error)
            elif chunk.request is not None:
                spans = list(spans_from_request(chunk.request))
                runs.add(spans)
                pending.extend(pipeline.spans(spans))
            elif chunk.spans is not None:
                spans = list(chunk.spans)
                runs.add(spans)
                pending.extend(pipeline.spans(spans))
            if len(pending) >= WRITE_BATCH:
                result.new_rows += log.write(pending)
                pending.clear()
        if on_file_done is not None:
            on_file_done(path)
    pending.extend(pipeline.finish())
    result.new_rows += log.write(pending)
    log.record_losses("ingest", pipeline.take_losses())
    log.record_runs(runs.take())
    if pipeline.assembler is not None:
        result.traces_evicted = pipeline.assembler.counters.traces_evicted
        result.spans_dropped = pipeline.assembler.counters.spans_dropped
    result.spans = pipeline.counts.spans - spans_before
    result.hits = pipeline.counts.hits - hits_before
    return result
