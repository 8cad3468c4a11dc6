"""Framework shapes no convention covers: OpenAI Agents SDK errors, pydantic-ai,
LangGraph interrupts and Traceloop/OpenLLMetry span names.

The Agents SDK (through openinference-instrumentation-openai-agents) reports its
`SpanError`s only as the status message "<message>: <data>"; pydantic-ai marks
deferred tools and usage limits with its own keys and exception types; LangGraph's
`GraphInterrupt` is forced to status OK and left only as an exception event.
"""

from __future__ import annotations

import re
from typing import Any

from spansift import attrs as a
from spansift.model import Event
from spansift.normalize._util import (
    UNKNOWN_TOOL_TEXT,
    Out,
    add_unknown,
    set_first,
    unknown_tool_name,
)
from spansift.normalize._values import canonical_value

_GUARDRAIL = re.compile(r"guardrail tripwire triggered(?:.*'guardrail': '(?P<name>[^']+)')?", re.I)
_REJECTED = re.compile(r"tool execution was not approved|was manually rejected by user", re.I)
_REJECTED_TOOL = re.compile(r"'tool_name': '(?P<name>[^']+)'")
_LIMITS = (
    (re.compile(r"max turns.*exceeded|MaxTurnsExceeded", re.I), "turns"),
    (
        re.compile(r"request_limit|requests_limit|LlmCallsLimitExceeded|llm calls limit", re.I),
        "requests",
    ),
    (re.compile(r"tool_calls_limit", re.I), "tool_calls"),
    (re.compile(r"tokens_limit|token limit", re.I), "tokens"),
    (re.compile(r"cost_limit", re.I), "cost"),
)
# pydantic-ai's UsageLimitExceeded names the limit in its message; without one it is requests.
_USAGE_LIMIT = re.compile(r"UsageLimitExceeded", re.I)
_INTERRUPTS = ("GraphInterrupt", "NodeInterrupt")
# Every text `read_message` and `read_exception_event` react to: a status message or an
# exception event none of these match yields no agent field (the sifter scans request
# bytes for them before building any span).
TEXT_PATTERNS: tuple[re.Pattern[str], ...] = (
    UNKNOWN_TOOL_TEXT,
    _GUARDRAIL,
    _REJECTED,
    *(pattern for pattern, _ in _LIMITS),
    _USAGE_LIMIT,
    re.compile("|".join(_INTERRUPTS)),
)
_TRACELOOP_KIND = {"workflow": "agent", "agent": "agent", "tool": "tool", "task": "other"}
_HANDOFF_ARROW = " → "


def kind(get: Any) -> str | None:
    loop_kind = get(a.TRACELOOP_SPAN_KIND)
    return _TRACELOOP_KIND.get(loop_kind) if isinstance(loop_kind, str) else None


def read_traceloop(out: Out, get: Any, name: str, kind: str) -> None:
    """Traceloop spans: `{agent}.agent`, `{tool}.tool`, `{from} → {to}.handoff`."""
    loop_kind = get(a.TRACELOOP_SPAN_KIND)
    entity = get(a.TRACELOOP_ENTITY_NAME)
    set_first(out, "workflow", get(a.TRACELOOP_WORKFLOW))
    # Traceloop.set_association_properties: the app's ids, on every span after the call.
    set_first(out, "session.id", get(a.TRACELOOP_SESSION), get(a.TRACELOOP_CONVERSATION))
    set_first(out, "user.id", get(a.TRACELOOP_USER))
    if loop_kind is None:
        return
    if kind == "tool":
        set_first(out, "tool.name", entity, name.removesuffix(".tool"))
    elif loop_kind == "agent":
        set_first(out, "agent.name", entity, name.removesuffix(".agent"))


def name_handoff(name: str) -> str | None:
    """The handoff target a span name gives (Agents SDK and Traceloop shapes)."""
    if name.startswith("handoff to "):
        return name[len("handoff to ") :].strip() or None
    if name.endswith(".handoff") and _HANDOFF_ARROW in name:
        return name.removesuffix(".handoff").split(_HANDOFF_ARROW, 1)[1].strip() or None
    return None


def read_message(out: Out, text: str, kind: str) -> None:
    """Signals in an error text: the Agents SDK's SpanError messages and limit errors."""
    # An LLM call failing with such a text is the provider's complaint, not a tool call.
    if kind != "llm" and UNKNOWN_TOOL_TEXT.search(text):
        add_unknown(out, [unknown_tool_name(text) or str(out.get("tool.name", ""))])
    tripped = _GUARDRAIL.search(text)
    if tripped:
        set_first(out, "guardrail.result", "blocked")
        set_first(out, "guardrail.name", tripped.group("name"))
    if kind == "tool" and _REJECTED.search(text):
        rejected = _REJECTED_TOOL.search(text)
        set_first(out, "gate.name", out.get("tool.name"), rejected and rejected.group("name"))
        set_first(out, "gate.decision", "denied")
        out["tool.outcome"] = "denied"
    for pattern, limit in _LIMITS:
        if pattern.search(text):
            set_first(out, "limit.exceeded", limit)
            break
    else:
        if _USAGE_LIMIT.search(text):
            set_first(out, "limit.exceeded", "requests")


def read_pydantic_ai(out: Out, get: Any) -> None:
    """A tool call pydantic-ai deferred for approval waits at a gate named after the tool."""
    deferral = get(a.PYDANTIC_AI_DEFERRAL)
    if isinstance(deferral, str) and deferral:
        set_first(out, "gate.name", out.get("tool.name"), deferral)
        set_first(out, "gate.decision", "requested")
        set_first(out, "gate.call_id", out.get("tool.call_id"))
        out["tool.outcome"] = "pending"


def read_exception_event(out: Out, event: Event) -> bool:
    """LangGraph interrupts (human-in-the-loop pauses) and limit errors; True when consumed."""
    ev = event.attributes
    kind = str(ev.get(a.EXCEPTION_TYPE, ""))
    if kind.rsplit(".", 1)[-1] in _INTERRUPTS:
        set_first(out, "gate.name", out.get("step"))
        set_first(out, "gate.decision", "requested")
        return True
    message = ev.get(a.EXCEPTION_MESSAGE)
    text = f"{kind}: {message}" if isinstance(message, str) else kind
    read_message(out, text, str(out.get("span.kind")))
    return False


def read_governance(out: Out, get: Any) -> None:
    """Policy engines: the Agent Governance Toolkit (`agt.*`) and GenAI guardrail policies."""
    action = get(a.AGT_POLICY_ACTION)
    if action is not None:
        set_first(out, "policy.decision", canonical_value("policy.decision", action))
        set_first(out, "policy.name", get(a.AGT_POLICY_RULE))
    outcome = get(a.AGT_APPROVAL_OUTCOME)
    if outcome is not None:
        set_first(out, "gate.decision", canonical_value("gate.decision", outcome))
        set_first(out, "gate.approver", get(a.AGT_APPROVAL_APPROVER))
        if out.get("span.kind") == "other":
            out["span.kind"] = "gate"
    policy = get(a.GEN_AI_GUARDRAIL_POLICY)
    if policy is not None and out.get("guardrail.result") == "blocked":
        set_first(out, "policy.decision", "deny")
        set_first(out, "policy.name", policy)
