"""A session of many traces: those closing together are judged in one pass; a full run splits."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

import spansift.pipeline
from spansift.model import Hit, Span, SpanRecord
from spansift.pipeline import Pipeline
from spansift.rules import load_ruleset
from spansift.sources.sdk import span_from_readable
from spansift.traces import AssemblyLimits


def _calls(count: int) -> list[Span]:
    """`count` tool calls of one conversation, each its own trace; every fifth fails."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("app")
    for i in range(count):
        span = tracer.start_span(
            "execute_tool get_order",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_order",
                "gen_ai.tool.call.id": f"call_{i}",
                "gen_ai.conversation.id": "conv-1",
            },
        )
        if i % 5 == 0:
            span.set_status(Status(StatusCode.ERROR, "upstream timed out"))
        span.end()
    spans = [span_from_readable(s) for s in memory.get_finished_spans()]
    provider.shutdown()
    return spans


def _rows(hits: list[Hit]) -> list[tuple[str, str, str]]:
    return sorted((h.match.rule_id, h.span.trace_id, h.span.span_id) for h in hits)


def test_traces_of_a_session_closing_together_are_resolved_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fifty traces of one session closing in one flush: one pass, the same rows."""
    spans = _calls(50)
    resolved: list[int] = []
    real = spansift.pipeline.resolve

    def counting(records: list[SpanRecord], *args: object, **kwargs: object) -> list[SpanRecord]:
        resolved.append(len(records))
        return real(records, *args, **kwargs)  # type: ignore[arg-type]

    now = [0.0]
    limits = AssemblyLimits(quiet_s=1)
    together = Pipeline(load_ruleset(), limits=limits, clock=lambda: now[0])
    hits = together.spans(spans)
    now[0] = 5.0
    hits += together.flush()

    alone = Pipeline(load_ruleset(), limits=limits, clock=lambda: now[0])
    one_by_one: list[Hit] = []
    for span in spans:
        one_by_one += alone.spans([span])
        now[0] += 5.0
        one_by_one += alone.flush()

    monkeypatch.setattr(spansift.pipeline, "resolve", counting)
    again = Pipeline(load_ruleset(), limits=limits, clock=lambda: now[0])
    again.spans(spans)
    now[0] += 5.0
    again.flush()
    assert resolved == [50]
    assert _rows(hits) == _rows(one_by_one)
    assert len([h for h in hits if h.match.rule_id == "tool_error"]) == 10


def test_a_session_over_the_run_bound_is_split_and_counted() -> None:
    """A run that reached its span bound is judged as finished and its session starts over."""
    now = [0.0]
    limits = AssemblyLimits(quiet_s=1, max_spans_per_trace=5)  # a run holds 20 spans
    pipeline = Pipeline(load_ruleset(), limits=limits, clock=lambda: now[0])
    hits: list[Hit] = []
    for span in _calls(30):
        hits += pipeline.spans([span])
        now[0] += 5.0
        hits += pipeline.flush()
    hits += pipeline.finish()
    assert pipeline.assembler.counters.runs_evicted == 1
    losses = pipeline.take_losses()
    assert losses is not None and "1 runs evicted early" in losses[0]
    assert len([h for h in hits if h.match.rule_id == "tool_error"]) == 6
