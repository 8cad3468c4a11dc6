"""Canonical fields: one place that knows how each convention spells things.

`canonical_fields` reads spansift's own convention, the OTel GenAI conventions
(`genai`), OpenInference (`openinference`) and framework shapes the two leave
out (`frameworks`: OpenAI Agents SDK error texts, pydantic-ai deferrals,
LangGraph interrupts, Traceloop names). It returns the raw attributes plus the
canonical fields of `attrs.CANONICAL_FIELDS`, so a rule never needs to know
which framework produced a span. It is pure and cheap: dictionary lookups, and
JSON parsing only for message and tool-definition keys that are present.
`_markers` says which spans can give a field only agent instrumentation gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from spansift import attrs as a
from spansift.evidence import MAX_VALUE_CHARS, safe_attributes
from spansift.model import Attributes, AttrValue, Event, Signal, Span, SpanRecord, StatusCode
from spansift.normalize import _stacks, frameworks, genai, openinference, signals, spansift
from spansift.normalize._util import add_unknown, set_first
from spansift.normalize._values import canonical_value

__all__ = ["canonical_fields", "fields_of", "refine"]

_STATUS = {StatusCode.UNSET: "unset", StatusCode.OK: "ok", StatusCode.ERROR: "error"}


def fields_of(span: Span, signals: Sequence[Signal] = ()) -> dict[str, AttrValue]:
    """Canonical fields of a fully built span (with a contracts file's `signals:` applied)."""
    return canonical_fields(
        name=span.name,
        status=span.status,
        status_message=span.status_message,
        attributes=span.attributes,
        resource=span.resource,
        events=span.events,
        duration_ns=span.end_ns - span.start_ns,
        signals=signals,
        scope=span.scope,
    )


def canonical_fields(
    *,
    name: str,
    status: StatusCode,
    status_message: str,
    attributes: Attributes,
    resource: Attributes,
    events: Iterable[Event],
    duration_ns: int,
    signals: Sequence[Signal] = (),
    scope: str = "",
) -> dict[str, AttrValue]:
    """Raw attributes plus canonical fields; canonical names win where both exist.

    `workflow` is set only when the span names one; the run model falls back to the
    trace's, the contract's and then `service.name`.
    """
    get = attributes.get
    # Conventions run in priority order and each fills only what is still missing.
    out: dict[str, AttrValue] = {
        "span.name": name,
        "span.duration_ms": duration_ns / 1e6,
        "status": _STATUS.get(status, "unset"),
    }
    kind = _span_kind(get, name)
    out["span.kind"] = kind

    if kind in _SPANSIFT_KINDS or _any_prefixed(attributes, _SPANSIFT_PREFIX):
        spansift.read(out, get)
    genai.read(out, get, name, kind)
    openinference.read(out, get, attributes)
    frameworks.read_traceloop(out, get, name, kind)
    frameworks.read_pydantic_ai(out, get)
    if kind == "handoff":
        set_first(out, "handoff.to", frameworks.name_handoff(name))
    _unknown_proposals(out)

    set_first(out, "workflow", get(a.SPANSIFT_WORKFLOW))
    set_first(out, "step", name)
    set_first(out, "service.name", resource.get(a.SERVICE_NAME))
    _guardrail(out, get, kind, name)
    frameworks.read_governance(out, get)

    if status_message:
        out["error.message"] = status_message
        frameworks.read_message(out, status_message, kind)
    names = []
    for event in events:
        names.append(event.name)
        _read_event(out, event)
    if names:
        out["span.events"] = tuple(names)
    # Instrumentations whose shapes say more than the conventions they follow.
    reader = _stacks.READERS.get(scope)
    if reader is not None:
        reader(out, get, _stacks.Parts(name, attributes, tuple(events)))
    if signals:
        signals_apply(out, get, signals)
    _derive(out)

    merged: dict[str, AttrValue] = dict(attributes)
    merged.update(out)
    return merged


_SPANSIFT_PREFIX = "spansift."
_SPANSIFT_KINDS = frozenset({"gate", "human", "handoff"})


def _any_prefixed(keys: Iterable[str], prefix: str) -> bool:
    for key in keys:  # noqa: SIM110 (a loop, not any(): this runs for every span)
        if key.startswith(prefix):
            return True
    return False


def _span_kind(get: Any, name: str) -> str:
    kind = spansift.kind(get) or openinference.kind(get, name) or frameworks.kind(get)
    if kind is None:
        operation = get(a.GEN_AI_OPERATION)
        kind = genai.OPERATION_KIND.get(operation) if isinstance(operation, str) else None
    return kind or "other"


def _unknown_proposals(out: dict[str, AttrValue]) -> None:
    """Tools the model proposed that were not among the tools it was offered."""
    proposed, offered = out.get("tool.proposed"), out.get("tool.offered")
    if isinstance(proposed, tuple) and isinstance(offered, tuple) and offered:
        add_unknown(out, [str(n) for n in proposed if n not in offered])


signals_apply = signals.apply


def _guardrail(out: dict[str, AttrValue], get: Any, kind: str, name: str) -> None:
    set_first(out, "guardrail.name", get(a.SPANSIFT_GUARDRAIL_NAME), get(a.GEN_AI_GUARDRAIL_NAME))
    if kind == "guardrail":
        set_first(out, "guardrail.name", name)
    triggered = get(a.SPANSIFT_GUARDRAIL_TRIGGERED)
    if isinstance(triggered, bool):
        set_first(out, "guardrail.result", "blocked" if triggered else "passed")
        return
    # The caller's enforcement (action) wins over the guardrail's verdict when both exist.
    for key in (a.GEN_AI_GUARDRAIL_ACTION, a.GEN_AI_GUARDRAIL_VERDICT):
        result = canonical_value("guardrail.result", get(key))
        if result is not None:
            set_first(out, "guardrail.result", result)
            return


def _derive(out: dict[str, AttrValue]) -> None:
    """Fields implied by others: a tool's outcome, whether a guardrail fired, a gate's tool."""
    kind = out.get("span.kind")
    if kind == "tool" and "tool.outcome" not in out:
        unknown = out.get("tool.unknown")
        if isinstance(unknown, tuple) and out.get("tool.name") in unknown:
            out["tool.outcome"] = "not_found"
        elif out.get("status") == "error" or "error.type" in out:
            out["tool.outcome"] = "error"
        else:
            out["tool.outcome"] = "ok"
    result = out.get("guardrail.result")
    if isinstance(result, str):
        out["guardrail.triggered"] = result != "passed"
    if "gate.decision" in out:
        set_first(out, "gate.tool", out.get("tool.name"))


def _read_event(out: dict[str, AttrValue], event: Event) -> None:
    if event.name in (a.SPANSIFT_GATE_EVENT, a.SPANSIFT_HUMAN_EVENT):
        spansift.read(out, event.attributes.get)
    elif event.name == a.EXCEPTION_EVENT:
        if not frameworks.read_exception_event(out, event):
            genai.read_event(out, event)
    else:
        genai.read_event(out, event)


def refine(
    records: Sequence[SpanRecord], fields: list[dict[str, AttrValue]]
) -> list[tuple[int, str, dict[str, AttrValue]]]:
    """Trace-level readings of instrumentations whose signals only the tree shows.

    `fields[i]` belongs to `records[i]` and is changed in place (the run model's copy).
    Returns records of their own for what no span holds: (anchor index, item, fields).
    """
    return _stacks.refine(records, fields)


_CANONICAL = frozenset(a.CANONICAL_FIELDS)
_RESOURCE_KEYS = ("service.name", "service.version", "deployment.environment")


def compact(record: SpanRecord, keep: frozenset[str] = frozenset()) -> SpanRecord:
    """What is held of a span until its trace and run close: small, and without content.

    The fields keep the canonical ones, the normalizers' private notes ("_..."), and the raw
    keys the loaded rules read (`keep`); the span keeps what evidence shows (redacted,
    bounded attributes and events). Nothing downstream reads anything else.
    """
    fields = {
        k: v for k, v in record.fields.items() if k in _CANONICAL or k[:1] == "_" or k in keep
    }
    span = record.span
    held = Span(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        name=span.name,
        kind=span.kind,
        start_ns=span.start_ns,
        end_ns=span.end_ns,
        status=span.status,
        status_message=span.status_message[:MAX_VALUE_CHARS],
        # Redacted keys are dropped now; patterns are scrubbed when a span is written.
        attributes=safe_attributes(span.attributes, scrubbed=False),
        events=tuple(
            Event(e.name, e.time_ns, safe_attributes(e.attributes, scrubbed=False))
            for e in span.events[:16]
        ),
        resource={k: span.resource[k] for k in _RESOURCE_KEYS if k in span.resource},
        scope=span.scope,
    )
    return SpanRecord(held, fields, record.item)
