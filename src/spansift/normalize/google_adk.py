"""Google ADK's built-in telemetry (scope `gcp.vertex.agent`), schema v2 and the older v1.

Spans follow the GenAI conventions (read by `genai`); what is ADK's own: the tool's
Python class in `gen_ai.tool.type` (`TransferToAgentTool` is a handoff whose target is in
the arguments, `AgentTool` a sub-agent, `BaseTool` with "Tool not found" a made-up name),
fixed result texts for tool confirmation ("requires confirmation", "is rejected"), the
retry plugins' own tool and result markers, and `LlmCallsLimitExceededError`. v1 keeps
tool arguments and results in `gcp.vertex.agent.tool_call_args` / `tool_response` and
repeats a model call's usage on `call_llm` and its `generate_content` child.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spansift.model import AttrValue, SpanRecord
from spansift.normalize._util import Out, args_digest, parse_json, result_outcome, set_first

SCOPE = "gcp.vertex.agent"
_TOOL_TYPE = "gen_ai.tool.type"
_RESULT_KEYS = ("gen_ai.tool.call.result", "gcp.vertex.agent.tool_response")
_ARGS_KEYS = ("gen_ai.tool.call.arguments", "gcp.vertex.agent.tool_call_args")
# google/adk/tools/function_tool.py: the answers of a call waiting for confirmation.
_ASKED = "requires confirmation"
_REJECTED = "tool call is rejected"
_RETRY_HANDLED = "ERROR_HANDLED_BY_REFLECT_AND_RETRY_PLUGIN"
_BUILTIN = frozenset({"adk_handle_model_error", "adk_request_confirmation"})
_NO_CALL_ID = "<not specified>"


def read(out: Out, get: Any, name: str) -> None:
    """ADK-specific fields of one span (after the GenAI reading)."""
    if out.get("tool.call_id") == _NO_CALL_ID:
        del out["tool.call_id"]  # ADK's placeholder when a raised tool lost its call
    if out.get("span.kind") != "tool":
        if name == "call_llm":
            out["span.kind"] = "llm"  # v1: the model call; its child repeats the usage
            out["usage.aggregate"] = True
        return
    tool = out.get("tool.name")
    if tool == "(merged tools)":
        out["span.kind"] = "other"  # parallel calls summed up; each has its own span too
        return
    kind = get(_TOOL_TYPE)
    args = next((v for k in _ARGS_KEYS if (v := get(k)) not in (None, "{}")), None)
    set_first(out, "tool.args_digest", args_digest(args))
    if kind == "TransferToAgentTool" or tool == "transfer_to_agent":
        out["tool.type"] = "handoff"
        target = parse_json(args) if isinstance(args, str) else None
        if isinstance(target, dict) and isinstance(target.get("agent_name"), str):
            out["handoff.to"] = target["agent_name"]
        return
    if kind == "AgentTool":
        out["tool.type"] = "agent"
    if tool in _BUILTIN:
        out["tool.type"] = "builtin"
    if kind == "BaseTool" and get("gen_ai.tool.description") == "Tool not found":
        out["tool.outcome"] = "not_found"
        out["tool.unknown"] = (str(tool),)
        return
    result = next((v for k in _RESULT_KEYS if isinstance(v := get(k), str) and v != "{}"), None)
    if result is None:
        return
    call_id = out.get("tool.call_id")
    if _ASKED in result:
        out["tool.outcome"] = "pending"
        out["gate.decision"] = "requested"
        if isinstance(call_id, str):
            out["gate.call_id"] = call_id
    elif _REJECTED in result:
        out["tool.outcome"] = "denied"
        out["gate.decision"] = "denied"
        if isinstance(call_id, str):
            out["gate.call_id"] = call_id
    elif out.get("status") != "error" and (
        _RETRY_HANDLED in result or result_outcome(result) == "error"
    ):
        out["tool.outcome"] = "handled_error"


def refine(records: Sequence[SpanRecord], fields: list[dict[str, AttrValue]]) -> None:
    """What only the tree shows.

    - A call run again in a later trace of the session (same call id) first waited for a
      confirmation (`ToolContext.request_confirmation`): the earlier span is the request.
    - An agent that called no model, no tool and no sub-agent was stopped before its model
      by a `before_model_callback`: a guardrail that blocked the input. In v1 the sign is a
      `call_llm` span with no `generate_content` under it.
    """
    adk = [i for i, r in enumerate(records) if r.span.scope == SCOPE]
    if not adk:
        return
    seen: dict[str, int] = {}
    for i in sorted(adk, key=lambda i: records[i].span.start_ns):
        f = fields[i]
        call_id = f.get("tool.call_id")
        if f.get("span.kind") != "tool" or not isinstance(call_id, str):
            continue
        first = seen.get(call_id)
        if first is not None and records[first].span.trace_id != records[i].span.trace_id:
            earlier = fields[first]
            if "gate.decision" not in earlier:
                earlier["gate.decision"] = "requested"
                earlier["gate.call_id"] = call_id
                earlier["tool.outcome"] = "pending"
        else:
            seen.setdefault(call_id, i)
    children: dict[str, list[int]] = {}
    for i in adk:
        parent = records[i].span.parent_span_id
        if parent:
            children.setdefault(parent, []).append(i)
    for i in adk:
        f = fields[i]
        below = children.get(records[i].span.span_id, [])
        if f.get("status") == "error":
            continue
        if records[i].span.name == "call_llm":
            blocked = not any(records[c].span.name.startswith("generate_content") for c in below)
        elif f.get("span.kind") == "agent" and records[i].span.name.startswith("invoke_agent"):
            blocked = not below
        else:
            continue
        if blocked:
            f["guardrail.name"] = "before_model_callback"
            f["guardrail.result"] = "blocked"
