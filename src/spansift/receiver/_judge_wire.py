"""What the judge process sends back, packed compactly for the pipe.

Hits reference the same `Span` values many times over (a hit's context is its trace's
and run's spans, up to 500), and pickling frozen dataclasses one by one is slow. A batch
result therefore sends each span once, as a plain tuple, and each hit as indexes into
that table; unpacking builds every span once, so hits that shared a span share it again
(the store builds each span's evidence once per write).

Everything here is pure; `pack` runs in the judge process, `unpack` in the receiver.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import Any

from spansift.model import Event, Hit, Span, SpanRecord

# Run state as `Pipeline.take_run_state` gives it: (run, trace, records as text), closed runs.
RunState = tuple[list[tuple[str, str, str]], list[str]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the judge did with one batch (or one tick), as the receiver's driver needs it.

    `poisoned` names the batch's records (by position) that could not be processed, with
    the reason; `seen` counts the spans offered; `oldest_tag` is the oldest spool segment
    an open trace still holds spans from, after the batch; `kept`, the records of the
    traces that closed, when the receiver keeps them (`--keep-traces`).
    """

    hits: list[Hit]
    poisoned: list[tuple[int, str]]
    seen: int
    run_state: RunState
    losses: tuple[str, int] | None
    runs: dict[tuple[date, str], int]
    oldest_tag: int | None
    kept: list[SpanRecord]


def pack(outcome: Outcome) -> bytes:
    """The outcome as bytes for the pipe (see the module docstring)."""
    found: dict[int, Span] = {}  # every span once, in order (C-speed loops: a context is long)
    for hit in outcome.hits:
        found[id(hit.span)] = hit.span
        found.update(zip(map(id, hit.context), hit.context, strict=True))
    for record in outcome.kept:
        found[id(record.span)] = record.span
    index = {key: n for n, key in enumerate(found)}
    at = index.__getitem__
    hits = [
        (h.match, at(id(h.span)), h.fields, tuple(map(at, map(id, h.context))), h.incomplete,
         h.item)
        for h in outcome.hits
    ]  # fmt: skip
    kept = [(at(id(r.span)), r.fields, r.item) for r in outcome.kept]
    spans = [_span_tuple(s) for s in found.values()]
    rest = (
        outcome.poisoned, outcome.seen, outcome.run_state, outcome.losses, outcome.runs,
        outcome.oldest_tag,
    )  # fmt: skip
    return pickle.dumps((spans, hits, kept, rest), protocol=pickle.HIGHEST_PROTOCOL)


def unpack(data: bytes) -> Outcome:
    """The `Outcome` that `pack` packed, its spans shared between hits as they were."""
    spans_t, hits_t, kept_t, rest = pickle.loads(data)
    spans = [_span_from(t) for t in spans_t]
    hits = [
        Hit(match, spans[s], fields, _pick(spans, context), incomplete, item)
        for match, s, fields, context, incomplete, item in hits_t
    ]
    kept = [SpanRecord(spans[s], fields, item) for s, fields, item in kept_t]
    poisoned, seen, run_state, losses, runs, oldest_tag = rest
    return Outcome(hits, poisoned, seen, run_state, losses, runs, oldest_tag, kept)


def _span_tuple(s: Span) -> tuple[Any, ...]:
    events = tuple((e.name, e.time_ns, e.attributes) for e in s.events)
    return (
        s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_ns, s.end_ns, s.status,
        s.status_message, s.attributes, events, s.resource, s.scope,
    )  # fmt: skip


def _span_from(t: tuple[Any, ...]) -> Span:
    events = tuple(Event(name, time_ns, attributes) for name, time_ns, attributes in t[10])
    trace_id, span_id, parent, name, kind, start_ns, end_ns, status, message = t[:9]
    return Span(
        trace_id, span_id, parent, name, kind, start_ns, end_ns, status, message, t[9], events,
        t[11], t[12],
    )  # fmt: skip


def _pick(spans: list[Span], at: tuple[int, ...]) -> tuple[Span, ...]:
    if len(at) > 1:
        picked: tuple[Span, ...] = itemgetter(*at)(spans)
        return picked
    return tuple(spans[i] for i in at)
