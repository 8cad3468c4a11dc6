"""Canonical fields: one place that knows how each convention spells things.

`canonical_fields` reads the OTel GenAI conventions and OpenInference (more
conventions plug in here) and returns the raw attributes plus the canonical
fields of `attrs.CANONICAL_FIELDS`, so a rule never needs to know which
framework produced a span. It is pure and cheap: dictionary lookups, no I/O.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from spansift import attrs as a
from spansift.model import Attributes, AttrValue, Event, Prefilter, Span, StatusCode, ValueTest

_OI_KIND = {
    "AGENT": "agent",
    "LLM": "llm",
    "TOOL": "tool",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "other",
    "CHAIN": "other",
    "RETRIEVER": "other",
    "RERANKER": "other",
    "EMBEDDING": "other",
    "PROMPT": "other",
}
_OPERATION_KIND = {
    "invoke_agent": "agent",
    "create_agent": "agent",
    "invoke_workflow": "agent",
    "plan": "agent",
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "embeddings": "llm",
    "execute_tool": "tool",
    "apply_guardrail": "guardrail",
    "run_guardrail": "guardrail",
}
_STATUS = {StatusCode.UNSET: "unset", StatusCode.OK: "ok", StatusCode.ERROR: "error"}
# Guardrail verdicts and actions (GenAI drafts) that mean "the guardrail stopped something".
_TRIPPED = frozenset({"deny", "block", "modify", "escalate", "warn", "tripwire_triggered"})


# What a span must carry for a canonical field to be present, as atoms the OTLP
# fast path can test without decoding values: "status:error", "status_message",
# "events", "key:<raw key>" or "prefix:<raw key prefix>". A field missing here can
# be present on any span. Keep this in step with `canonical_fields`; a test does.
ERROR_STATUS, STATUS_MESSAGE, EVENTS = "status:error", "status_message", "events"
CONTRACT = "contract"  # present when contracts are loaded: the rule set resolves it
NAME = "name"  # decided by a test on the span name (see `name_fields`)


def _keys(*keys: str) -> frozenset[str]:
    return frozenset(f"key:{k}" for k in keys)


_KIND_KEYS = (a.OI_SPAN_KIND, a.GEN_AI_OPERATION)
FIELD_NEEDS: dict[str, frozenset[str]] = {
    "error.type": _keys(a.ERROR_TYPE) | {EVENTS},
    "error.message": frozenset({STATUS_MESSAGE, EVENTS}),
    "agent.name": _keys(a.GEN_AI_AGENT_NAME, a.OI_AGENT_NAME),
    "agent.id": _keys(a.GEN_AI_AGENT_ID),
    "span.name": frozenset({NAME}),
    "step": _keys(a.SPANSIFT_STEP, a.OI_GRAPH_NODE_NAME) | {NAME},
    "tool.name": _keys(a.GEN_AI_TOOL_NAME, a.OI_TOOL_NAME) | {NAME},
    "tool.call_id": _keys(a.GEN_AI_TOOL_CALL_ID, a.OI_TOOL_ID),
    "tool.offered": _keys(a.GEN_AI_TOOL_DEFINITIONS) | {f"prefix:{a.OI_TOOLS_PREFIX}"},
    "usage.input_tokens": _keys(
        a.GEN_AI_INPUT_TOKENS, a.OI_PROMPT_TOKENS, a.GEN_AI_PROMPT_TOKENS_OLD
    ),
    "usage.output_tokens": _keys(
        a.GEN_AI_OUTPUT_TOKENS, a.OI_COMPLETION_TOKENS, a.GEN_AI_COMPLETION_TOKENS_OLD
    ),
    "usage.total_tokens": _keys(
        a.OI_TOTAL_TOKENS,
        a.GEN_AI_INPUT_TOKENS,
        a.OI_PROMPT_TOKENS,
        a.GEN_AI_PROMPT_TOKENS_OLD,
        a.GEN_AI_OUTPUT_TOKENS,
        a.OI_COMPLETION_TOKENS,
        a.GEN_AI_COMPLETION_TOKENS_OLD,
    ),
    "guardrail.name": _keys(a.SPANSIFT_GUARDRAIL_NAME, a.GEN_AI_GUARDRAIL_NAME, *_KIND_KEYS),
    "guardrail.triggered": _keys(
        a.SPANSIFT_GUARDRAIL_TRIGGERED, a.GEN_AI_GUARDRAIL_VERDICT, a.GEN_AI_GUARDRAIL_ACTION
    ),
    "gate.name": _keys(a.SPANSIFT_GATE_NAME),
    "gate.decision": _keys(a.SPANSIFT_GATE_DECISION),
    "human.decision": _keys(a.SPANSIFT_HUMAN_DECISION),
    "human.actor": _keys(a.SPANSIFT_HUMAN_ACTOR),
    "handoff.to": _keys(a.SPANSIFT_HANDOFF_TO),
    "evaluation.name": frozenset({EVENTS}),
    "evaluation.label": frozenset({EVENTS}),
    "evaluation.score": frozenset({EVENTS}),
    "evaluation.explanation": frozenset({EVENTS}),
    "user.id": _keys(a.OI_USER_ID, a.ENDUSER_ID),
    "session.id": _keys(a.OI_SESSION_ID, a.GEN_AI_CONVERSATION),
}


def field_needs(field: str, values: tuple[object, ...] | None = None) -> frozenset[str] | None:
    """Atoms one of which a span must carry for `field` to be present (with one of `values`).

    None means the field may be present on any span. `values`, when given, are
    the values a condition accepts; `status` limited to "error" needs an ERROR span.
    """
    if field == "status":
        if values and all(str(v).lower() == "error" for v in values):
            return frozenset({ERROR_STATUS})
        return None
    if field in FIELD_NEEDS:
        return FIELD_NEEDS[field]
    if field.startswith("contract."):
        return frozenset({CONTRACT})
    if field in a.CANONICAL_FIELDS:
        return None
    return frozenset({f"key:{field}"})


def name_fields(name: str) -> dict[str, AttrValue]:
    """The canonical fields a span name alone could give: a superset, for prefiltering."""
    out: dict[str, AttrValue] = {"span.name": name, "step": name}
    tool = name.removeprefix("execute_tool").strip()
    if tool and tool != name:
        out["tool.name"] = tool
    return out


# Canonical fields whose value is the raw value of one of these keys, unchanged: a
# test on the field can run on the raw value before anything else is decoded.
DIRECT_KEYS: dict[str, tuple[str, ...]] = {
    "tool.name": (a.GEN_AI_TOOL_NAME, a.OI_TOOL_NAME),
    "tool.call_id": (a.GEN_AI_TOOL_CALL_ID, a.OI_TOOL_ID),
    "agent.name": (a.GEN_AI_AGENT_NAME, a.OI_AGENT_NAME),
    "agent.id": (a.GEN_AI_AGENT_ID,),
    "handoff.to": (a.SPANSIFT_HANDOFF_TO,),
    "human.actor": (a.SPANSIFT_HUMAN_ACTOR,),
    "gate.name": (a.SPANSIFT_GATE_NAME,),
    "session.id": (a.OI_SESSION_ID, a.GEN_AI_CONVERSATION),
    "user.id": (a.OI_USER_ID, a.ENDUSER_ID),
}


def prefilter_of(needs: frozenset[str | ValueTest]) -> Prefilter:
    """The `Prefilter` that admits a span carrying any of the atoms in `needs`."""
    by_key: dict[str | None, list[ValueTest]] = {}
    for atom in needs:
        if isinstance(atom, ValueTest):
            by_key.setdefault(atom.key, []).append(atom)
    name_tests = by_key.pop(None, [])
    return Prefilter(
        name_test=_any_test(name_tests) if name_tests else None,
        key_tests={k: _any_test(v) for k, v in by_key.items() if k is not None},
        on_error=ERROR_STATUS in needs,
        on_status_message=STATUS_MESSAGE in needs,
        on_events=EVENTS in needs,
        keys=frozenset(n[4:] for n in needs if isinstance(n, str) and n.startswith("key:")),
        prefixes=tuple(
            sorted(n[7:] for n in needs if isinstance(n, str) and n.startswith("prefix:"))
        ),
    )


def _any_test(tests: list[ValueTest]) -> Callable[[Any], bool]:
    """One test passing when any of `tests` does, memoized: names and tool names repeat."""

    @functools.lru_cache(maxsize=4096)
    def cached(value: Any) -> bool:
        return any(t.test(value) for t in tests)

    def test(value: Any) -> bool:
        try:
            return cached(value)
        except TypeError:  # an unhashable value (a key/value list): test it uncached
            return any(t.test(value) for t in tests)

    return test


def fields_of(span: Span) -> dict[str, AttrValue]:
    """Canonical fields of a fully built span."""
    return canonical_fields(
        name=span.name,
        status=span.status,
        status_message=span.status_message,
        attributes=span.attributes,
        resource=span.resource,
        events=span.events,
        duration_ns=span.end_ns - span.start_ns,
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
) -> dict[str, AttrValue]:
    """Raw attributes plus canonical fields; canonical names win where both exist."""
    get = attributes.get
    out: dict[str, AttrValue] = dict(attributes)
    out["span.name"] = name
    out["span.duration_ms"] = duration_ns / 1e6
    out["status"] = _STATUS.get(status, "unset")
    operation = get(a.GEN_AI_OPERATION)

    kind = _span_kind(get, operation)
    out["span.kind"] = kind

    _set_first(out, "agent.name", get(a.GEN_AI_AGENT_NAME), get(a.OI_AGENT_NAME))
    _set_first(out, "agent.id", get(a.GEN_AI_AGENT_ID))
    tool = _first(get(a.GEN_AI_TOOL_NAME), get(a.OI_TOOL_NAME))
    if tool is None and kind == "tool" and operation == "execute_tool":
        tool = name.removeprefix("execute_tool").strip() or None
    if tool is not None:
        out["tool.name"] = tool
    _set_first(out, "tool.call_id", get(a.GEN_AI_TOOL_CALL_ID), get(a.OI_TOOL_ID))
    offered = _offered_tools(attributes)
    if offered:
        out["tool.offered"] = offered

    _set_usage(out, get)
    _set_first(
        out,
        "workflow",
        get(a.GEN_AI_WORKFLOW),
        get(a.SPANSIFT_WORKFLOW),
        resource.get(a.SERVICE_NAME),
    )
    out["step"] = _first(get(a.SPANSIFT_STEP), get(a.OI_GRAPH_NODE_NAME)) or name
    _set_first(out, "session.id", get(a.OI_SESSION_ID), get(a.GEN_AI_CONVERSATION))
    _set_first(out, "user.id", get(a.OI_USER_ID), get(a.ENDUSER_ID))
    _set_first(out, "service.name", resource.get(a.SERVICE_NAME))

    _set_guardrail(out, get, kind, name)
    _set_first(out, "gate.name", get(a.SPANSIFT_GATE_NAME))
    _set_first(out, "gate.decision", _lower(get(a.SPANSIFT_GATE_DECISION)))
    _set_first(out, "human.decision", _lower(get(a.SPANSIFT_HUMAN_DECISION)))
    _set_first(out, "human.actor", get(a.SPANSIFT_HUMAN_ACTOR))
    _set_first(out, "handoff.to", get(a.SPANSIFT_HANDOFF_TO))

    _set_first(out, "error.type", get(a.ERROR_TYPE))
    if status_message:
        out["error.message"] = status_message
    for event in events:
        _read_event(out, event)
    return out


def _span_kind(get: Any, operation: Any) -> str:
    if get(a.SPANSIFT_GATE_NAME) is not None or get(a.SPANSIFT_GATE_DECISION) is not None:
        return "gate"
    if get(a.SPANSIFT_HUMAN_DECISION) is not None:
        return "human"
    if get(a.SPANSIFT_HANDOFF_TO) is not None:
        return "handoff"
    oi_kind = get(a.OI_SPAN_KIND)
    if isinstance(oi_kind, str) and oi_kind.upper() in _OI_KIND:
        return _OI_KIND[oi_kind.upper()]
    if isinstance(operation, str) and operation in _OPERATION_KIND:
        return _OPERATION_KIND[operation]
    return "other"


def _set_usage(out: dict[str, AttrValue], get: Any) -> None:
    input_tokens = _number(
        _first(get(a.GEN_AI_INPUT_TOKENS), get(a.OI_PROMPT_TOKENS), get(a.GEN_AI_PROMPT_TOKENS_OLD))
    )
    output_tokens = _number(
        _first(
            get(a.GEN_AI_OUTPUT_TOKENS),
            get(a.OI_COMPLETION_TOKENS),
            get(a.GEN_AI_COMPLETION_TOKENS_OLD),
        )
    )
    total = _number(get(a.OI_TOTAL_TOKENS))
    if input_tokens is not None:
        out["usage.input_tokens"] = input_tokens
    if output_tokens is not None:
        out["usage.output_tokens"] = output_tokens
    if total is None and (input_tokens is not None or output_tokens is not None):
        total = (input_tokens or 0) + (output_tokens or 0)
    if total is not None:
        out["usage.total_tokens"] = total


def _set_guardrail(out: dict[str, AttrValue], get: Any, kind: str, name: str) -> None:
    guardrail = _first(get(a.SPANSIFT_GUARDRAIL_NAME), get(a.GEN_AI_GUARDRAIL_NAME))
    if guardrail is None and kind == "guardrail":
        guardrail = name
    if guardrail is not None:
        out["guardrail.name"] = guardrail
    triggered = get(a.SPANSIFT_GUARDRAIL_TRIGGERED)
    if isinstance(triggered, bool):
        out["guardrail.triggered"] = triggered
        return
    verdicts = {_lower(get(a.GEN_AI_GUARDRAIL_VERDICT)), _lower(get(a.GEN_AI_GUARDRAIL_ACTION))}
    verdicts.discard(None)
    if verdicts:
        out["guardrail.triggered"] = bool(verdicts & _TRIPPED)


def _read_event(out: dict[str, AttrValue], event: Event) -> None:
    if event.name == a.EXCEPTION_EVENT:
        ev = event.attributes
        if "error.type" not in out and ev.get(a.EXCEPTION_TYPE) is not None:
            out["error.type"] = ev[a.EXCEPTION_TYPE]
        if "error.message" not in out and ev.get(a.EXCEPTION_MESSAGE) is not None:
            out["error.message"] = ev[a.EXCEPTION_MESSAGE]
    elif event.name == a.GEN_AI_EVALUATION_EVENT:
        ev = event.attributes
        for key, field in (
            (a.GEN_AI_EVALUATION_NAME, "evaluation.name"),
            (a.GEN_AI_EVALUATION_LABEL, "evaluation.label"),
            (a.GEN_AI_EVALUATION_SCORE, "evaluation.score"),
            (a.GEN_AI_EVALUATION_EXPLANATION, "evaluation.explanation"),
        ):
            if ev.get(key) is not None:
                out[field] = ev[key]


def _offered_tools(attributes: Attributes) -> tuple[str, ...]:
    """Names of the tools the model was given, from GenAI or OpenInference attributes."""
    names: list[str] = []
    definitions = attributes.get(a.GEN_AI_TOOL_DEFINITIONS)
    if isinstance(definitions, str):
        parsed = _json(definitions)
        if isinstance(parsed, list):
            names.extend(n for n in map(_tool_name, parsed) if n)
    for key, value in attributes.items():
        if (
            key.startswith(a.OI_TOOLS_PREFIX)
            and key.endswith(a.OI_TOOL_JSON_SCHEMA_SUFFIX)
            and isinstance(value, str)
        ):
            name = _tool_name(_json(value))
            if name:
                names.append(name)
    return tuple(dict.fromkeys(names))


def _tool_name(definition: Any) -> str | None:
    if not isinstance(definition, Mapping):
        return None
    name = definition.get("name")
    function = definition.get("function")
    if not name and isinstance(function, Mapping):
        name = function.get("name")
    return name if isinstance(name, str) and name else None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    return None


def _set_first(out: dict[str, AttrValue], key: str, *values: Any) -> None:
    value = _first(*values)
    if value is not None:
        out[key] = value


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None
