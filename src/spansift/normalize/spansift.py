"""spansift's own convention: approval gates, human decisions, guardrails, handoffs.

Keys are in `attrs` (`spansift.gate.*`, `spansift.human.*`, ...); `spansift.conventions`
has the helpers that write them, as span attributes or as an event on a span.
"""

from __future__ import annotations

from typing import Any

from spansift import attrs as a
from spansift.normalize._util import Out, set_first
from spansift.normalize._values import canonical_value

_GATE = (
    (a.SPANSIFT_GATE_NAME, "gate.name"),
    (a.SPANSIFT_GATE_APPROVER, "gate.approver"),
    (a.SPANSIFT_GATE_JUSTIFICATION, "gate.justification"),
    (a.SPANSIFT_GATE_SCOPE, "gate.scope"),
    (a.SPANSIFT_GATE_EXPIRES_AT, "gate.expires_at"),
)
_HUMAN = ((a.SPANSIFT_HUMAN_ACTOR, "human.actor"), (a.SPANSIFT_HUMAN_REASON, "human.reason"))


def kind(get: Any) -> str | None:
    if get(a.SPANSIFT_GATE_NAME) is not None or get(a.SPANSIFT_GATE_DECISION) is not None:
        return "gate"
    if get(a.SPANSIFT_HUMAN_DECISION) is not None:
        return "human"
    if get(a.SPANSIFT_HANDOFF_TO) is not None:
        return "handoff"
    return None


def read(out: Out, get: Any) -> None:
    """Fields from spansift attributes on the span (or an event's attributes)."""
    for key, field in _GATE:
        set_first(out, field, get(key))
    set_first(out, "gate.decision", canonical_value("gate.decision", get(a.SPANSIFT_GATE_DECISION)))
    set_first(out, "gate.tool", get(a.SPANSIFT_GATE_TOOL))
    set_first(out, "gate.call_id", get(a.SPANSIFT_GATE_CALL_ID))
    set_first(out, "gate.reason", get(a.SPANSIFT_GATE_REASON))
    set_first(
        out, "human.decision", canonical_value("human.decision", get(a.SPANSIFT_HUMAN_DECISION))
    )
    for key, field in _HUMAN:
        set_first(out, field, get(key))
    set_first(out, "handoff.to", get(a.SPANSIFT_HANDOFF_TO))
    set_first(out, "step", get(a.SPANSIFT_STEP))
