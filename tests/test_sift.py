"""Skipping what cannot hit: marked traces pass whole, ordinary ones cost almost nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from spansift.drive import Driver
from spansift.model import Span
from spansift.normalize import fields_of
from spansift.normalize._markers import AGENT_FIELDS, body_may_mark, marks_by_shape
from spansift.rules import load_ruleset
from spansift.sift import Sifter
from spansift.sources.files import iter_file
from spansift.sources.otlp_encode import request_from_spans
from spansift.sources.otlp_json import parse_json
from spansift.sources.sdk import span_from_readable
from spansift.store.log import ExceptionLog

FIXTURES = Path(__file__).parent / "fixtures"


def _recorded_spans() -> list[Span]:
    spans: list[Span] = []
    for path in sorted((FIXTURES / "corpus").glob("*/*.json")):
        body = path.read_bytes()
        if b'"resourceSpans"' in body:  # not the recorders' package files
            spans += parse_json(body)
    for folder in ("traces", "frameworks", "otlp"):
        for path in sorted((FIXTURES / folder).glob("*.jsonl")):
            for chunk in iter_file(path):
                spans += chunk.spans or ()
    return spans


RECORDED = _recorded_spans()


def test_every_recorded_span_with_an_agent_field_is_marked() -> None:
    """The cheap test never misses a span the normalizers give an agent field.

    Spans with a status message or events are normalized for real by the sifter, so only
    the others must be marked by scope, name or keys (and their request bytes must say so).
    """
    assert len(RECORDED) > 3000
    agent, missed = 0, []
    for span in RECORDED:
        if not any(f in fields_of(span) for f in AGENT_FIELDS):
            continue
        agent += 1
        if span.status_message or span.events:
            continue
        body = request_from_spans([span]).SerializeToString()
        shaped = marks_by_shape(span.scope, span.name, span.attributes, frozenset())
        if not (shaped and body_may_mark(body)):
            missed.append((span.scope, span.name, sorted(span.attributes)[:5]))
    assert agent > 1000
    assert missed == []


def _ordinary(provider: TracerProvider, *, error: bool = False) -> None:
    tracer = provider.get_tracer("io.opentelemetry.flask")
    with tracer.start_as_current_span("GET /api/orders/{id}") as root:
        root.set_attribute("http.request.method", "GET")
        root.set_attribute("user_agent.original", "Mozilla/5.0")
        with tracer.start_as_current_span("SELECT orders") as db:
            db.set_attribute("db.system.name", "postgresql")
            if error:
                db.set_status(Status(StatusCode.ERROR, "connection reset"))


def _record(make: object, **kwargs: object) -> list[Span]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    make(provider, **kwargs)  # type: ignore[operator]
    spans = [span_from_readable(s) for s in memory.get_finished_spans()]
    provider.shutdown()
    return spans


@pytest.mark.parametrize("error", [False, True], ids=["ok", "failed"])
def test_ordinary_traces_are_counted_but_never_judged(db: Path, error: bool) -> None:
    """HTTP and database spans (even failed ones) reach no rule, yet are counted as seen."""
    spans = _record(_ordinary, error=error) * 3
    body = request_from_spans(spans).SerializeToString()
    assert not body_may_mark(body)
    with ExceptionLog(db) as log:
        driver = Driver(load_ruleset(), log, source="test")
        assert driver.sifter is not None
        driver.request(request_from_spans(spans), body=body)
        driver.finish()
        driver.commit()
        assert driver.pipeline.counts.spans == 0
        assert driver.spans_seen == len(spans)


def _agent_with_http_child(provider: TracerProvider) -> None:
    app = provider.get_tracer("io.opentelemetry.httpx")
    agent = provider.get_tracer("openinference.instrumentation.openai_agents")
    with agent.start_as_current_span("support-agent") as root:
        root.set_attribute("openinference.span.kind", "AGENT")
        with agent.start_as_current_span("refund_order") as tool:
            tool.set_attribute("openinference.span.kind", "TOOL")
            tool.set_attribute("tool.name", "refund_order")
            with app.start_as_current_span("POST") as call:
                call.set_attribute("http.request.method", "POST")


def test_spans_held_back_join_their_trace_once_it_is_marked() -> None:
    """An HTTP child exported before its agent's spans is passed on with them, first."""
    spans = _record(_agent_with_http_child)
    http, rest = spans[0], spans[1:]
    assert http.name == "POST"
    sifter = Sifter()
    assert sifter.request(request_from_spans([http])) == []
    passed = sifter.request(request_from_spans(rest))
    assert [s.name for s in passed] == ["POST", "refund_order", "support-agent"]
    assert (sifter.counts.seen, sifter.counts.passed) == (3, 3)


def test_the_same_for_spans_already_built() -> None:
    """The in-process path holds and releases `Span` values the same way."""
    spans = _record(_agent_with_http_child)
    sifter = Sifter()
    assert sifter.spans(spans[:1]) == []
    assert [s.name for s in sifter.spans(spans[1:])] == ["POST", "refund_order", "support-agent"]


def test_a_rule_on_other_fields_turns_skipping_off(tmp_path: Path) -> None:
    """A user rule that can hit an ordinary span keeps every span in view."""
    rules = tmp_path / "http.yaml"
    rules.write_text(
        "spansift_rules: 1\nitems:\n"
        "  - rule: slow_checkout\n    exception: tool_error\n    severity: low\n"
        "    boundary: checkout\n    summary: slow checkout\n"
        "    when: {span.name: checkout}\n"
    )
    assert load_ruleset().agent_only
    ruleset = load_ruleset([rules])
    assert not ruleset.agent_only
    with ExceptionLog(tmp_path / "log.duckdb") as log:
        assert Driver(ruleset, log, source="test").sifter is None
