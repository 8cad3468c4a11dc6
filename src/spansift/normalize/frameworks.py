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
    parse_json,
    set_first,
    unknown_tool_name,
)
from spansift.normalize._values import canonical_value

_GUARDRAIL = re.compile(r"guardrail tripwire triggered(?:.*'guardrail': '(?P<name>[^']+)')?", re.I)
_REJECTED = re.compile(r"tool execution was not approved|was manually rejected by user", re.I)
_REJECTED_TOOL = re.compile(r"'tool_name': '(?P<name>[^']+)'")
_LIMITS = (
    (re.compile(r"max turns.*exceeded|MaxTurnsExceeded", re.I), "turns"),
    (re.compile(r"request_limit|requests_limit", re.I), "requests"),
    (re.compile(r"tool_calls_limit", re.I), "tool_calls"),
    (re.compile(r"tokens_limit|token limit", re.I), "tokens"),
    (re.compile(r"cost_limit", re.I), "cost"),
)
# pydantic-ai's UsageLimitExceeded names the limit in its message; without one it is requests.
_USAGE_LIMIT = re.compile(r"UsageLimitExceeded", re.I)
_INTERRUPTS = ("GraphInterrupt", "NodeInterrupt")
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


def read_unfinished_tool(out: Out, get: Any) -> None:
    """An OpenInference tool span with input but no output, not failed, never ran to the end.

    The OpenAI Agents SDK ends the function span of a call that waits for approval that
    way (and a rejected call on resume leaves no span at all), so the call is a pending
    gate, not an execution that could bypass one.
    """
    if out.get("span.kind") != "tool" or out.get("status") == "error":
        return
    if get(a.OI_SPAN_KIND) is None or get(a.OI_INPUT_VALUE) is None:
        return
    if get(a.OI_OUTPUT_VALUE) is None:
        set_first(out, "gate.name", out.get("tool.name"))
        set_first(out, "gate.decision", "requested")
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


# LangGraph human-in-the-loop: the resumed graph's root span has the `Command` as input.
_HITL_TYPES = {"approve": "approved", "edit": "edited", "reject": "denied", "respond": "denied"}
_DECISION_KEYS = ("type", "decision", "action", "status", "approved", "approve")


def _decision(value: Any) -> str | None:
    """A gate decision from one resume value: a word, a boolean, or a small mapping."""
    if isinstance(value, (str, bool)):
        found = canonical_value("gate.decision", value)
        return None if found == "requested" else found
    if isinstance(value, dict):
        for key in _DECISION_KEYS:
            if key in value:
                raw = value[key]
                if isinstance(raw, str) and raw.lower() in _HITL_TYPES:
                    return _HITL_TYPES[raw.lower()]
                return _decision(raw)
    return None


def read_langgraph_resume(out: Out, get: Any) -> None:
    """Decisions a resumed LangGraph run was given: `Command(resume=...)` on its root input."""
    text = get(a.OI_INPUT_VALUE)
    if not isinstance(text, str) or '"resume"' not in text or not text.startswith("{"):
        return
    command = parse_json(text)
    if not isinstance(command, dict) or "resume" not in command:
        return
    resume = command["resume"]
    values: list[Any]
    if isinstance(resume, dict) and isinstance(resume.get("decisions"), list):
        values = resume["decisions"]
    elif isinstance(resume, dict) and resume and _decision(resume) is None:
        values = list(resume.values())  # several interrupts answered at once, by id
        if len(values) == 1 and isinstance(values[0], dict) and "decisions" in values[0]:
            values = list(values[0]["decisions"])
    else:
        values = [resume]
    decisions = tuple(d for d in map(_decision, values) if d is not None)
    if len(decisions) == 1:
        out["gate.decision"] = decisions[0]
    elif decisions:
        out["gate.decision"] = decisions
