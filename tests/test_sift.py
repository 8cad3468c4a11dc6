"""Skipping what cannot hit: marked traces pass whole, ordinary ones cost almost nothing."""

from __future__ import annotations

import dataclasses
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
from spansift.normalize._markers import AGENT_FIELDS, BodyScan, ShapeTest
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
body_may_mark = BodyScan().may_mark  # the look without contract signal keys


def test_every_recorded_span_with_an_agent_field_is_marked() -> None:
    """The cheap tests never miss a span the normalizers give an agent field.

    The bytes of a request holding it always may mark; then the span is marked by scope,
    name or keys, or it has a status message or events (normalized for real).
    """
    assert len(RECORDED) > 3000
    agent, missed = 0, []
    shape = ShapeTest()  # one for all: what it remembers is tested too
    for span in RECORDED:
        if not any(f in fields_of(span) for f in AGENT_FIELDS):
            continue
        agent += 1
        body = request_from_spans([span]).SerializeToString()
        shaped = shape(span.scope, span.name, span.attributes)
        if not (body_may_mark(body) and (shaped or span.status_message or span.events)):
            missed.append((span.scope, span.name, sorted(span.attributes)[:5]))
    assert agent > 1000
    assert missed == []


@pytest.mark.parametrize(
    "message",
    [
        "Max turns (3) exceeded",
        "Guardrail tripwire triggered",
        "Tool refund_order not found in agent support",
        "Tool execution was not approved.",
    ],
)
def test_a_text_the_message_readers_react_to_marks_its_trace(message: str) -> None:
    """Status messages of any span are scanned in the bytes, then read for real."""
    span = _record(_ordinary, error=True)[0]
    failed = dataclasses.replace(span, status_message=message)
    assert body_may_mark(request_from_spans([failed]).SerializeToString())
    assert not body_may_mark(request_from_spans([span]).SerializeToString())


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


def test_requests_held_as_bytes_join_their_trace_once_it_is_marked() -> None:
    """An ordinary request is held as it came; its spans follow their trace's marking."""
    spans = _record(_agent_with_http_child)
    http, rest = spans[0], spans[1:]
    ordinary = [*_record(_ordinary), http]
    sifter = Sifter()
    held = request_from_spans(ordinary)
    assert sifter.request(held, held.SerializeToString()) == []
    assert sifter.counts.seen == len(ordinary)
    marking = request_from_spans(rest)
    passed = sifter.request(marking, marking.SerializeToString())
    assert [s.name for s in passed] == ["POST", "refund_order", "support-agent"]
    # A late ordinary span of a marked trace passes at once; other traces stay held.
    late = request_from_spans([http, *_record(_ordinary)])
    assert [s.name for s in sifter.request(late, late.SerializeToString())] == ["POST"]
    assert (sifter.counts.seen, sifter.counts.passed, sifter.counts.dropped) == (8, 4, 0)


def test_held_bytes_are_bounded_and_what_leaves_is_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The oldest held requests go first, their spans counted as dropped."""
    request = request_from_spans(_record(_ordinary))
    body = request.SerializeToString()
    monkeypatch.setattr("spansift.sift.MAX_HELD_BYTES", 3 * len(body))
    sifter = Sifter()
    for _ in range(5):
        fresh = request_from_spans(_record(_ordinary))
        assert sifter.request(fresh, fresh.SerializeToString()) == []
    assert (sifter.counts.seen, sifter.counts.dropped) == (10, 4)


def _four_ordinary(provider: TracerProvider) -> None:
    for _ in range(4):
        _ordinary(provider)


def test_a_scope_group_is_looked_at_as_bytes_then_span_by_span_when_it_may_mark() -> None:
    """Ordinary groups of a mixed batch stay held; a group with an agent key is sorted."""
    ordinary = _record(_four_ordinary)
    agent = _record(_agent_with_http_child)
    sifter = Sifter()
    mixed = request_from_spans(ordinary + agent)
    groups = [len(s.spans) for rs in mixed.resource_spans for s in rs.scope_spans]
    assert sorted(groups) == [1, 2, 8]  # httpx, agents, flask
    passed = sifter.request(mixed, mixed.SerializeToString())
    assert sorted(s.name for s in passed) == ["POST", "refund_order", "support-agent"]
    assert (sifter.counts.seen, sifter.counts.passed) == (11, 3)
    # A GenAI key on one span of an ordinary group marks that span's trace only.
    group = _record(_four_ordinary)
    group[0] = dataclasses.replace(
        group[0], attributes={**group[0].attributes, "gen_ai.operation.name": "chat"}
    )
    request = request_from_spans(group)
    passed = sifter.request(request, request.SerializeToString())
    assert {s.trace_id for s in passed} == {group[0].trace_id}
    assert len(passed) == 2


def test_finished_sdk_spans_are_converted_only_when_their_trace_is_marked() -> None:
    """The processor's path holds SDK spans as they are and converts them on release."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    _ordinary(provider)
    _agent_with_http_child(provider)
    finished = list(memory.get_finished_spans())
    provider.shutdown()
    ordinary, (http, *rest) = finished[:2], finished[2:]
    sifter = Sifter()
    assert sifter.sdk_spans([*ordinary, http]) == []
    passed = sifter.sdk_spans(rest)
    assert all(isinstance(s, Span) for s in passed)
    assert [s.name for s in passed] == ["POST", "refund_order", "support-agent"]
    assert passed[0] == span_from_readable(http)
    assert (sifter.counts.seen, sifter.counts.passed) == (5, 3)
