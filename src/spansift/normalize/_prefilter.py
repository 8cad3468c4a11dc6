"""The prefilter contract: what a span must carry for each canonical field.

Atoms the OTLP fast path can test without decoding values: "status:error",
"status_message", "events", "key:<raw key>" or "prefix:<raw key prefix>", plus
NAME (decided by a test on the span name, see `name_fields`) and CONTRACT. A
field missing from FIELD_NEEDS can be present on any span. Keep this in step
with `canonical_fields`; tests/test_prefilter.py checks it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from spansift import attrs as a
from spansift.model import AttrValue, Prefilter, ValueTest
from spansift.normalize.frameworks import name_handoff

ERROR_STATUS, STATUS_MESSAGE, EVENTS = "status:error", "status_message", "events"
CONTRACT = "contract"  # present when contracts are loaded: the rule set resolves it
NAME = "name"  # decided by a test on the span name (see `name_fields`)


def _keys(*keys: str) -> frozenset[str]:
    return frozenset(f"key:{k}" for k in keys)


def _prefixes(*prefixes: str) -> frozenset[str]:
    return frozenset(f"prefix:{p}" for p in prefixes)


_KIND_KEYS = (a.OI_SPAN_KIND, a.GEN_AI_OPERATION)
_GATE = (
    _keys(a.SPANSIFT_GATE_NAME, a.SPANSIFT_GATE_DECISION, a.PYDANTIC_AI_DEFERRAL, a.OI_INPUT_VALUE)
    | _prefixes(a.OI_ANNOTATIONS_PREFIX)
    | {EVENTS, STATUS_MESSAGE}
)
_MESSAGES = _keys(a.GEN_AI_OUTPUT_MESSAGES) | _prefixes(a.OI_OUTPUT_MESSAGES_PREFIX)
_INPUT_TOKENS = (a.GEN_AI_INPUT_TOKENS, a.OI_PROMPT_TOKENS, a.GEN_AI_PROMPT_TOKENS_OLD)
_OUTPUT_TOKENS = (a.GEN_AI_OUTPUT_TOKENS, a.OI_COMPLETION_TOKENS, a.GEN_AI_COMPLETION_TOKENS_OLD)

FIELD_NEEDS: dict[str, frozenset[str]] = {
    "span.events": frozenset({EVENTS}),
    "error.type": _keys(a.ERROR_TYPE) | {EVENTS},
    "error.message": frozenset({STATUS_MESSAGE, EVENTS}),
    "agent.name": _keys(a.GEN_AI_AGENT_NAME, a.OI_AGENT_NAME, a.TRACELOOP_ENTITY_NAME) | {NAME},
    "agent.id": _keys(a.GEN_AI_AGENT_ID),
    "run.id": _keys(a.GEN_AI_AGENT_CALL_ID),
    "span.name": frozenset({NAME}),
    "step": _keys(a.SPANSIFT_STEP, a.OI_GRAPH_NODE_NAME, a.OI_METADATA) | {NAME},
    "tool.name": _keys(a.GEN_AI_TOOL_NAME, a.OI_TOOL_NAME, a.TRACELOOP_ENTITY_NAME) | {NAME},
    "tool.call_id": _keys(a.GEN_AI_TOOL_CALL_ID, a.OI_TOOL_ID),
    "tool.offered": _keys(a.GEN_AI_TOOL_DEFINITIONS) | _prefixes(a.OI_TOOLS_PREFIX),
    "tool.proposed": _MESSAGES,
    "tool.proposed_ids": _MESSAGES,
    "tool.unknown": _MESSAGES
    | _keys(a.GEN_AI_INPUT_MESSAGES)
    | _prefixes(a.OI_INPUT_MESSAGES_PREFIX)
    | {STATUS_MESSAGE, EVENTS},
    "usage.input_tokens": _keys(*_INPUT_TOKENS),
    "usage.output_tokens": _keys(*_OUTPUT_TOKENS),
    "usage.total_tokens": _keys(
        a.OI_TOTAL_TOKENS, a.LLM_TOTAL_TOKENS_OLD, *_INPUT_TOKENS, *_OUTPUT_TOKENS
    ),
    "guardrail.name": _keys(a.SPANSIFT_GUARDRAIL_NAME, a.GEN_AI_GUARDRAIL_NAME, *_KIND_KEYS)
    | {STATUS_MESSAGE, EVENTS},
    "guardrail.triggered": _keys(
        a.SPANSIFT_GUARDRAIL_TRIGGERED, a.GEN_AI_GUARDRAIL_VERDICT, a.GEN_AI_GUARDRAIL_ACTION
    )
    | {STATUS_MESSAGE, EVENTS},
    "gate.name": _GATE,
    "gate.decision": _GATE,
    "gate.approver": _keys(a.SPANSIFT_GATE_APPROVER) | {EVENTS},
    "gate.justification": _keys(a.SPANSIFT_GATE_JUSTIFICATION)
    | _prefixes(a.OI_ANNOTATIONS_PREFIX)
    | {EVENTS},
    "gate.scope": _keys(a.SPANSIFT_GATE_SCOPE) | {EVENTS},
    "gate.expires_at": _keys(a.SPANSIFT_GATE_EXPIRES_AT) | {EVENTS},
    "human.decision": _keys(a.SPANSIFT_HUMAN_DECISION)
    | _prefixes(a.OI_ANNOTATIONS_PREFIX)
    | {EVENTS},
    "human.actor": _keys(a.SPANSIFT_HUMAN_ACTOR) | {EVENTS},
    "human.reason": _keys(a.SPANSIFT_HUMAN_REASON) | _prefixes(a.OI_ANNOTATIONS_PREFIX) | {EVENTS},
    "handoff.to": _keys(a.SPANSIFT_HANDOFF_TO) | {NAME},
    "limit.exceeded": frozenset({STATUS_MESSAGE, EVENTS}),
    "evaluation.name": frozenset({EVENTS}),
    "evaluation.label": frozenset({EVENTS}),
    "evaluation.score": frozenset({EVENTS}),
    "evaluation.explanation": frozenset({EVENTS}),
    "user.id": _keys(a.OI_USER_ID, a.ENDUSER_ID),
    "session.id": _keys(a.OI_SESSION_ID, a.GEN_AI_CONVERSATION, a.OI_METADATA),
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
    elif name.endswith(".tool"):
        out["tool.name"] = name.removesuffix(".tool")
    if name.endswith(".agent"):
        out["agent.name"] = name.removesuffix(".agent")
    handoff = name_handoff(name)
    if handoff:
        out["handoff.to"] = handoff
    return out


# Canonical fields whose value is the raw value of one of these keys, unchanged: a
# test on the field can run on the raw value before anything else is decoded.
DIRECT_KEYS: dict[str, tuple[str, ...]] = {
    "tool.name": (a.GEN_AI_TOOL_NAME, a.OI_TOOL_NAME),
    "tool.call_id": (a.GEN_AI_TOOL_CALL_ID, a.OI_TOOL_ID),
    "agent.name": (a.GEN_AI_AGENT_NAME, a.OI_AGENT_NAME),
    "agent.id": (a.GEN_AI_AGENT_ID,),
    "run.id": (a.GEN_AI_AGENT_CALL_ID,),
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
