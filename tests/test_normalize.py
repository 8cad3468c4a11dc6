"""Normalization of convention and framework shapes into canonical fields."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spansift import approval_gate, record_human_decision
from spansift.model import Event, StatusCode
from spansift.normalize import canonical_fields, fields_of
from spansift.sources.sdk import span_from_readable


def _fields(
    name: str = "span",
    events: tuple[Event, ...] = (),
    status: StatusCode = StatusCode.UNSET,
    scope: str = "",
    **attributes: object,
) -> dict:
    return canonical_fields(
        name=name,
        status=status,
        status_message="",
        attributes=attributes,  # type: ignore[arg-type]
        resource={},
        events=events,
        duration_ns=0,
        scope=scope,
    )


def test_traceloop_tool_and_handoff_names() -> None:
    """Traceloop's `{tool}.tool` and `{from} → {to}.handoff` spans give tool and handoff fields."""
    tool = _fields("get_order.tool", **{"traceloop.span.kind": "tool"})
    assert (tool["span.kind"], tool["tool.name"]) == ("tool", "get_order")
    handoff = _fields("triage → human.handoff", **{"traceloop.span.kind": "task"})
    assert "handoff.to" not in handoff  # only a handoff-kind span is read as one
    oi = _fields("handoff to human_operator", **{"openinference.span.kind": "TOOL"})
    assert (oi["span.kind"], oi["handoff.to"]) == ("handoff", "human_operator")


def test_old_genai_names() -> None:
    """Older GenAI usage names still fill the usage fields."""
    out = _fields(**{"gen_ai.usage.prompt_tokens": 7, "gen_ai.usage.completion_tokens": 3})
    assert (out["usage.input_tokens"], out["usage.total_tokens"]) == (7, 10)


def test_openinference_human_annotation() -> None:
    """A HUMAN annotation labelled rejected is a human decision."""
    out = _fields(
        **{
            "annotations.0.annotation.name": "correctness",
            "annotations.0.annotation.label": "rejected",
            "annotations.0.annotation.annotator_kind": "HUMAN",
        }
    )
    assert out["human.decision"] == "rejected"


def test_evaluation_event_approval() -> None:
    """A gen_ai.evaluation.result named approval with label denied is a denied gate."""
    event = Event(
        "gen_ai.evaluation.result",
        0,
        {"gen_ai.evaluation.name": "approval", "gen_ai.evaluation.score.label": "denied"},
    )
    assert _fields(events=(event,))["gate.decision"] == "denied"


def test_proposed_calls_and_unknown() -> None:
    """Proposed tool calls are listed with ids; one not offered is unknown."""
    out = _fields(
        **{
            "gen_ai.tool.definitions": '[{"name": "get_order"}]',
            "gen_ai.output.messages": '[{"role": "assistant", "parts": ['
            '{"type": "tool_call", "id": "c1", "name": "get_order"},'
            '{"type": "tool_call", "id": "c2", "name": "wipe"}]}]',
        }
    )
    assert out["tool.proposed"] == ("get_order", "wipe")
    assert out["tool.proposed_ids"] == ("c1", "c2")
    assert out["tool.unknown"] == ("wipe",)


def test_helpers_emit_the_convention() -> None:
    """approval_gate and record_human_decision give gate and human fields."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("reply") as span:
        with approval_gate(tracer, "refund", scope="order 1") as gate:
            gate.decide("escalated", approver="a@example.com", justification="big")
        record_human_decision(span, "edited", actor="b@example.com", reason="tone")
    gate_span, reply = (fields_of(span_from_readable(s)) for s in exporter.get_finished_spans())
    assert (gate_span["gate.name"], gate_span["gate.decision"]) == ("refund", "escalated")
    assert gate_span["gate.approver"] == "a@example.com"
    assert (reply["human.decision"], reply["human.actor"]) == ("edited", "b@example.com")


def test_langgraph_thread_id_in_metadata_is_the_session() -> None:
    """OpenInference's metadata JSON names the LangGraph thread; it joins traces into a run."""
    fields = _fields("agent", metadata='{"thread_id": "t-9", "langgraph_node": "tools"}')
    assert (fields["session.id"], fields["step"]) == ("t-9", "tools")


def _oi_tool(status: StatusCode, **attributes: object) -> dict:
    tool = {"openinference.span.kind": "TOOL", "tool.name": "refund_order"}
    scope = "openinference.instrumentation.openai_agents"
    return _fields("refund_order", status=status, scope=scope, **tool, **attributes)


def test_tool_span_with_input_and_no_output_waits_at_a_gate() -> None:
    """An Agents SDK function span that got input but no output did not run: it waits."""
    pending = _oi_tool(StatusCode.OK, **{"input.value": "{}"})
    assert (pending["gate.decision"], pending["gate.name"]) == ("requested", "refund_order")
    assert pending["tool.outcome"] == "pending"
    ran = _oi_tool(StatusCode.OK, **{"input.value": "{}", "output.value": "done"})
    failed = _oi_tool(StatusCode.ERROR, **{"input.value": "{}"})
    assert "gate.decision" not in ran
    assert "gate.decision" not in failed
