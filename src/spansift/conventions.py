"""spansift's convention for what no standard covers: approval gates and human decisions.

Both are ordinary OpenTelemetry spans and events, so any backend shows them, and
spansift's normalization turns them into `gate.*` and `human.*` fields:

    with approval_gate(tracer, "refund_order", scope="order 42") as gate:
        gate.decide("denied", approver="alice@example.com", justification="over limit")

    record_human_decision(span, "rejected", actor="bob@example.com", reason="wrong refund")

A gate span is named `approval <name>` and carries `spansift.gate.*`; a human
decision is a `spansift.human.decision` event on the span it is about, or its own
`human_review` span when given a tracer. The same verdicts are also read when
written as a GenAI `gen_ai.evaluation.result` event (evaluation name `approval`
or `human_review`) or as OpenInference annotations with annotator_kind HUMAN.
These helpers run on the caller's thread and only set attributes and events.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Literal

from opentelemetry import trace

from spansift import attrs as a

GateDecision = Literal["requested", "approved", "denied", "escalated", "pending"]
HumanDecision = Literal["accepted", "rejected", "edited"]
GATE_DECISIONS: frozenset[str] = frozenset(
    ("requested", "approved", "denied", "escalated", "pending")
)
HUMAN_DECISIONS: frozenset[str] = frozenset(("accepted", "rejected", "edited"))

__all__ = [
    "GATE_DECISIONS",
    "HUMAN_DECISIONS",
    "ApprovalGate",
    "GateDecision",
    "HumanDecision",
    "approval_gate",
    "record_human_decision",
]


def _check(value: str, allowed: frozenset[str], what: str) -> None:
    if value not in allowed:
        msg = f"unknown {what} {value!r}; use one of {', '.join(sorted(allowed))}"
        raise ValueError(msg)


def _present(**values: str | None) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}


class ApprovalGate:
    """The span of one approval gate; `decide` records the outcome on it."""

    def __init__(self, span: trace.Span, name: str) -> None:
        self.span = span
        self.name = name
        self.decision: str = "requested"

    def decide(
        self,
        decision: GateDecision,
        *,
        approver: str | None = None,
        justification: str | None = None,
        scope: str | None = None,
        expires_at: str | None = None,
    ) -> None:
        """Record the decision (and who made it, why, for what, until when) on the gate span."""
        _check(decision, GATE_DECISIONS, "gate decision")
        self.decision = decision
        values: dict[str, str] = {a.SPANSIFT_GATE_DECISION: decision}
        values |= _present(
            **{
                a.SPANSIFT_GATE_APPROVER: approver,
                a.SPANSIFT_GATE_JUSTIFICATION: justification,
                a.SPANSIFT_GATE_SCOPE: scope,
                a.SPANSIFT_GATE_EXPIRES_AT: expires_at,
            }
        )
        self.span.set_attributes(values)
        self.span.add_event(a.SPANSIFT_GATE_EVENT, {a.SPANSIFT_GATE_NAME: self.name, **values})


@contextmanager
def approval_gate(
    tracer: trace.Tracer,
    name: str,
    *,
    tool: str | None = None,
    scope: str | None = None,
    expires_at: str | None = None,
    attributes: Mapping[str, str | int | float | bool] | None = None,
) -> Iterator[ApprovalGate]:
    """A span `approval <name>` for one approval request, decided with `gate.decide(...)`.

    The gate starts as `requested`; leaving the block without a decision leaves it
    so, which a review reads as a request nobody answered.
    """
    start = {a.SPANSIFT_GATE_NAME: name, a.SPANSIFT_GATE_DECISION: "requested"}
    start |= _present(
        **{
            a.GEN_AI_TOOL_NAME: tool,
            a.SPANSIFT_GATE_SCOPE: scope,
            a.SPANSIFT_GATE_EXPIRES_AT: expires_at,
        }
    )
    with tracer.start_as_current_span(
        f"approval {name}", attributes={**(attributes or {}), **start}
    ) as span:
        yield ApprovalGate(span, name)


def record_human_decision(
    target: trace.Span | trace.Tracer,
    decision: HumanDecision,
    *,
    actor: str | None = None,
    reason: str | None = None,
    name: str = "human_review",
) -> None:
    """Record that a person accepted, rejected or edited what an agent produced.

    Given a span (the one whose output was reviewed), adds a `spansift.human.decision`
    event to it; given a tracer, writes a short span `name` of its own.
    """
    _check(decision, HUMAN_DECISIONS, "human decision")
    values: dict[str, str] = {a.SPANSIFT_HUMAN_DECISION: decision}
    values |= _present(**{a.SPANSIFT_HUMAN_ACTOR: actor, a.SPANSIFT_HUMAN_REASON: reason})
    if isinstance(target, trace.Tracer):
        with target.start_as_current_span(name, attributes=values):
            return
    target.add_event(a.SPANSIFT_HUMAN_EVENT, values)
