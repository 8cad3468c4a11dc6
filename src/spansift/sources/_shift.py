"""Moving recorded traces in time, for `spansift ingest --shift-to-now`.

A sample or a replay recorded last year falls outside every `--since 7d` window.
Shifting every timestamp by one amount (so the newest span ends now) keeps each
trace's shape and durations, and the exception ids (which hash rule, trace and
span, never times) stay the same, so shifting never duplicates a row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from pathlib import Path

from spansift.model import Span
from spansift.sources.files import Chunk, iter_file, iter_paths


def newest_end_ns(paths: Iterable[Path]) -> int:
    """The latest span end time in `paths` (files or folders); 0 when they hold no span."""
    newest = 0
    for path in iter_paths(list(paths)):
        for chunk in iter_file(path):
            if chunk.spans is not None:
                newest = max([newest, *(s.end_ns for s in chunk.spans)])
            elif chunk.request is not None:
                for resource_spans in chunk.request.resource_spans:
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            newest = max(newest, span.end_time_unix_nano)
    return newest


def shifted(chunks: Iterable[Chunk], delta_ns: int) -> Iterator[Chunk]:
    """`chunks` with every span and event time moved by `delta_ns` (unset times stay 0)."""
    for chunk in chunks:
        if chunk.spans is not None:
            spans = tuple(_span(s, delta_ns) for s in chunk.spans)
            yield dataclasses.replace(chunk, spans=spans)
            continue
        if chunk.request is not None:
            # A request is decoded afresh for each chunk, so it is changed in place.
            for resource_spans in chunk.request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        span.start_time_unix_nano = _move(span.start_time_unix_nano, delta_ns)
                        span.end_time_unix_nano = _move(span.end_time_unix_nano, delta_ns)
                        for event in span.events:
                            event.time_unix_nano = _move(event.time_unix_nano, delta_ns)
            # The bytes it was decoded from no longer say the same: nobody may read them.
            yield dataclasses.replace(chunk, body=b"")
            continue
        yield chunk


def _move(ns: int, delta_ns: int) -> int:
    return max(ns + delta_ns, 0) if ns else 0


def _span(span: Span, delta_ns: int) -> Span:
    events = tuple(dataclasses.replace(e, time_ns=_move(e.time_ns, delta_ns)) for e in span.events)
    return dataclasses.replace(
        span,
        start_ns=_move(span.start_ns, delta_ns),
        end_ns=_move(span.end_ns, delta_ns),
        events=events,
    )
