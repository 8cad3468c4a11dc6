"""pydantic-ai's own instrumentation (scope `pydantic-ai`) and pydantic-ai-harness guardrails.

Agent, tool and chat spans follow the GenAI conventions (read by `genai`); what is
pydantic-ai's own: a tool that raised `ApprovalRequired` carries
`pydantic_ai.tool.deferral.name`; a tool with `requires_approval=True` gets no span at
all, the run just ends with the call unanswered (its `final_result` lists it under
`approvals` when content is recorded); usage limits end the run with
`UsageLimitExceeded`. Harness guardrails are zero-length spans named
`guardrail blocked|redacted|deferred <direction>` with `guardrail.action`,
`guardrail.direction` and `guardrail.tool`; a guardrail that passes records nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spansift.model import AttrValue, SpanRecord
from spansift.normalize._util import Out, parse_json

SCOPE = "pydantic-ai"
_GUARDRAIL_NAME = "guardrail "
_ACTIONS = {"block": "blocked", "replace": "modified", "redact": "modified"}
_KEY_ACTION, _KEY_DIRECTION, _KEY_TOOL = "guardrail.action", "guardrail.direction", "guardrail.tool"
_FINAL_RESULT = "final_result"
RESULT_RECORDED = "_pydantic_ai.result_recorded"  # content was recorded for the run


def read(out: Out, get: Any, name: str) -> None:
    """Deferred calls a run's result lists; harness guardrail spans."""
    final = get(_FINAL_RESULT)
    if final is not None and out.get("span.kind") == "agent":
        out[RESULT_RECORDED] = True
        calls = _listed_approvals(final)
        if calls:
            out["gate.decision"] = tuple("requested" for _ in calls)
            out["gate.tool"] = tuple(name for name, _ in calls)
            out["gate.call_id"] = tuple(call for _, call in calls)
    if not name.startswith(_GUARDRAIL_NAME):
        return
    action = get(_KEY_ACTION)
    if not isinstance(action, str):
        return
    direction = get(_KEY_DIRECTION)
    tool = get(_KEY_TOOL)
    out["span.kind"] = "guardrail"
    out["guardrail.name"] = f"harness:{direction}" if isinstance(direction, str) else "harness"
    if isinstance(direction, str):
        out["guardrail.target"] = direction.replace(" ", "_")
    result = _ACTIONS.get(action.lower())
    if result is not None:
        out["guardrail.result"] = result
    elif action.lower() in ("approve", "defer"):
        # The guardrail sent the call to a person: an approval request for that tool.
        out["gate.decision"] = "requested"
        if isinstance(tool, str):
            out["gate.tool"] = tool


def refine(records: Sequence[SpanRecord], fields: list[dict[str, AttrValue]]) -> None:
    """Calls a run deferred for approval (`requires_approval`): the run ended waiting for them.

    With content, `final_result` lists them under `approvals` (read by `read`); without,
    they are the calls the run's last model turn proposed that no tool span of the run ran.
    """
    children: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        if record.span.parent_span_id:
            children.setdefault(record.span.parent_span_id, []).append(index)
    _blocked_calls(records, fields, children)
    for index, record in enumerate(records):
        f = fields[index]
        if record.span.scope != SCOPE or f.get("span.kind") != "agent":
            continue
        if f.get("status") == "error" or "gate.decision" in f:
            continue
        if f.get(RESULT_RECORDED):
            continue  # read() took the deferred calls from the result itself
        calls = _unanswered(records, fields, children.get(record.span.span_id, []))
        if calls:
            f["gate.decision"] = tuple("requested" for _ in calls)
            f["gate.tool"] = tuple(name for name, _ in calls)
            f["gate.call_id"] = tuple(call for _, call in calls)


def _listed_approvals(final_result: Any) -> list[tuple[str, str]] | None:
    """The `approvals` of a `DeferredToolRequests` result; None when there is no such result."""
    if not isinstance(final_result, str) or '"approvals"' not in final_result:
        return None
    parsed = parse_json(final_result)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("approvals"), list):
        return None
    return [
        (str(item.get("tool_name", "")), str(item.get("tool_call_id", "")))
        for item in parsed["approvals"]
        if isinstance(item, dict)
    ]


def _unanswered(
    records: Sequence[SpanRecord], fields: list[dict[str, AttrValue]], mine: list[int]
) -> list[tuple[str, str]]:
    """Calls proposed by the run's last model turn that none of its tool spans ran."""
    chats = [i for i in mine if fields[i].get("span.kind") == "llm"]
    if not chats:
        return []
    last = max(chats, key=lambda i: records[i].span.end_ns)
    names = fields[last].get("tool.proposed")
    ids = fields[last].get("tool.proposed_ids")
    if not isinstance(names, tuple) or not isinstance(ids, tuple):
        return []
    ran = {fields[i].get("tool.call_id") for i in mine if fields[i].get("span.kind") == "tool"}
    return [
        (str(name), str(call))
        for name, call in zip(names, ids, strict=False)
        if call and call not in ran
    ]


def _blocked_calls(
    records: Sequence[SpanRecord],
    fields: list[dict[str, AttrValue]],
    children: dict[str, list[int]],
) -> None:
    """A tool span whose arguments a guardrail blocked never ran the tool (its result is the
    refusal), so it is neither a failure nor an execution."""
    for index, record in enumerate(records):
        f = fields[index]
        if f.get("span.kind") != "tool" or record.span.scope != SCOPE:
            continue
        for child in children.get(record.span.span_id, ()):
            c = fields[child]
            if c.get("guardrail.target") == "tool_args" and c.get("guardrail.result") == "blocked":
                f["tool.outcome"] = "denied"
