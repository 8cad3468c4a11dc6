"""LangChain and LangGraph as openinference-instrumentation-langchain records them.

The instrumentation names span kinds from run names (AGENT whenever "agent" is in
the name), forces `GraphInterrupt` and handoff `Command`s to OK, and writes what
matters only inside JSON: the agent in `metadata.lc_agent_name`, a tool message's
status and call id in the tool span's `output.value`, a handoff's target in
`metadata.__handoff_destination`, the human's answer in the resumed root's
`input.value` (`Command(resume=...)`). Middleware hooks are spans named
`<Middleware>.<hook>`: PII guardrails and call limits are read from them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from typing import Any

from spansift import attrs as a
from spansift.model import Event, SpanRecord
from spansift.normalize._util import Out, parse_json, result_outcome, set_first
from spansift.normalize._values import canonical_value

SCOPE = "openinference.instrumentation.langchain"
# Private marker (fields starting with "_" are the normalizers' notes to their refiners):
# the span recorded no output ("") or a masked one ("__REDACTED__").
OUTPUT_HIDDEN = "_langchain.output_hidden"
_INTERRUPT = "GraphInterrupt"
_NOT_ERRORS = ("GraphInterrupt", "ParentCommand", "Command", "NodeInterrupt")
_HOOK = re.compile(r"^(?P<middleware>\w+)(?:\[(?P<target>[^\]]*)\])?\.(?:before|after)_\w+$")
_LIMIT_HOOKS = {"ModelCallLimitMiddleware": "requests", "ToolCallLimitMiddleware": "tool_calls"}
_LIMIT_TEXT = re.compile(r"call limits? (exceeded|reached)|limit reached|limits exceeded", re.I)
_LIMIT_ERRORS = {
    "ModelCallLimitExceededError": "requests",
    "ToolCallLimitExceededError": "tool_calls",
    "GraphRecursionError": "steps",
}
# AutoModeMiddleware's refusal, as the model is told it (langchain/agents/middleware/auto_mode.py).
_RISK_BLOCK = re.compile(r"was blocked because it was classified as risky", re.I)
_HITL = {"approve": "approved", "edit": "edited", "reject": "denied", "respond": "answered"}
_DECISION_KEYS = ("type", "decision", "action", "status", "approved", "approve", "verdict")
_APPROVER_KEYS = ("by", "approver", "reviewer", "user", "actor")
_REASON_KEYS = ("reason", "message", "justification", "comment", "note")
_MAX_LITERAL = 20_000  # a longer interrupt payload is read with patterns only
_INTERRUPTS = re.compile(r"Interrupt\(value=(?P<value>.*?), id='(?P<id>[0-9a-f]+)'", re.S)
_QUOTED = r"'(?P<v>[^']+)'"


def read(out: Out, get: Any, name: str, events: Sequence[Event]) -> None:
    """LangChain-specific fields of one span (after the OpenInference reading)."""
    metadata = _metadata(get(a.OI_METADATA))
    agent = metadata.get("lc_agent_name")
    if isinstance(agent, str) and agent:
        set_first(out, "agent.name", agent)
    destination = metadata.get("__handoff_destination")
    if isinstance(destination, str) and destination:
        out["span.kind"] = "handoff"
        out["handoff.to"] = destination
        out["tool.type"] = "handoff"
    kind = out.get("span.kind")
    if kind == "tool":
        _tool_message(out, get(a.OI_OUTPUT_VALUE))
    output = get(a.OI_OUTPUT_VALUE)
    if output is None or output == "__REDACTED__":
        out[OUTPUT_HIDDEN] = output or ""  # for refine(), which sees no raw attributes
    hook = _HOOK.match(name)
    if hook is not None:
        _middleware(out, get, hook.group("middleware"), hook.group("target"))
    if kind == "other" and name == "tools":
        _blocked_as_risky(out, get(a.OI_OUTPUT_VALUE))
    for event in events:
        _event(out, event)
    read_resume(out, get)


def _metadata(value: Any) -> dict[str, Any]:
    if not isinstance(value, str) or not value.startswith("{"):
        return {}
    parsed = parse_json(value)
    return parsed if isinstance(parsed, dict) else {}


def _message_data(value: Any) -> dict[str, Any] | None:
    """The `data` of a serialized LangChain message (`{"type": "tool", "data": {...}}`)."""
    parsed = parse_json(value) if isinstance(value, str) and value.startswith("{") else None
    data = parsed.get("data") if isinstance(parsed, dict) else None
    return data if isinstance(data, dict) else None


def _tool_message(out: Out, output: Any) -> None:
    """A tool span's ToolMessage: its call id, and a failure handed to the model as a result."""
    data = _message_data(output)
    if data is None:
        return
    call_id = data.get("tool_call_id")
    if isinstance(call_id, str) and call_id:
        set_first(out, "tool.call_id", call_id)
    failed = data.get("status") == "error" or result_outcome(data.get("content")) == "error"
    if failed and out.get("status") != "error":
        out["tool.outcome"] = "handled_error"


def _middleware(out: Out, get: Any, middleware: str, target: str | None) -> None:
    output = get(a.OI_OUTPUT_VALUE)
    if middleware == "PIIMiddleware":
        out["span.kind"] = "guardrail"
        out["guardrail.name"] = f"pii:{target}" if target else "pii"
        if out.get("status") == "error":
            out["guardrail.result"] = "blocked"
        elif output == "null":
            out["guardrail.result"] = "passed"
        elif isinstance(output, str) and output.startswith("{") and '"messages"' in output:
            out["guardrail.result"] = "modified"
        return
    limit = _LIMIT_HOOKS.get(middleware)
    if limit is not None and isinstance(output, str) and _LIMIT_TEXT.search(output):
        out["limit.exceeded"] = limit


def _blocked_as_risky(out: Out, output: Any) -> None:
    """AutoModeMiddleware refused a call it judged risky: a guardrail that blocked it."""
    if isinstance(output, str) and _RISK_BLOCK.search(output):
        out["span.kind"] = "guardrail"
        out["guardrail.name"] = "AutoModeMiddleware"
        out["guardrail.result"] = "blocked"


def _event(out: Out, event: Event) -> None:
    if event.name != a.EXCEPTION_EVENT:
        return
    kind = str(event.attributes.get(a.EXCEPTION_TYPE, "")).rsplit(".", 1)[-1]
    limit = _LIMIT_ERRORS.get(kind)
    if limit is not None:
        out["limit.exceeded"] = limit
    if kind == "PIIDetectionError":
        out["guardrail.result"] = "blocked"
        set_first(out, "guardrail.name", "pii")
    if kind == _INTERRUPT:
        _interrupt(out, str(event.attributes.get(a.EXCEPTION_MESSAGE, "")))
    if kind in _NOT_ERRORS:
        # A pause or a handoff, not a failure: the instrumentation set status OK already.
        if out.get("error.type") == event.attributes.get(a.EXCEPTION_TYPE):
            del out["error.type"]
        out.pop("error.message", None)


def is_control_flow(exception_type: object) -> bool:
    """LangGraph raises these to pause or hand off; they are not errors."""
    return isinstance(exception_type, str) and exception_type.rsplit(".", 1)[-1] in _NOT_ERRORS


def _interrupt(out: Out, message: str) -> None:
    """The requests a GraphInterrupt carries: one gate per tool call awaiting a decision."""
    tools: list[str] = []
    calls: list[str] = []
    ids: list[str] = []
    for found in _INTERRUPTS.finditer(message):
        value, interrupt_id = found.group("value"), found.group("id")
        for tool, call_id in _requested_calls(value):
            tools.append(tool)
            calls.append(call_id)
            ids.append(interrupt_id)
    if not ids:
        return
    out["gate.decision"] = tuple("requested" for _ in ids)
    out["gate.tool"] = tuple(tools)
    out["gate.call_id"] = tuple(calls)
    out["gate.id"] = tuple(ids)
    if "span.kind" in out and out["span.kind"] == "other":
        out["span.kind"] = "gate"


def _requested_calls(value: str) -> list[tuple[str, str]]:
    """(tool, call id) pairs an interrupt asks about; one ("", "") for a plain pause."""
    payload: Any = None
    if len(value) <= _MAX_LITERAL:
        try:
            payload = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            payload = None
    if isinstance(payload, Mapping):
        actions = payload.get("action_requests")
        if isinstance(actions, list):  # HumanInTheLoopMiddleware, batched
            return [(str(x.get("name", "")), "") for x in actions if isinstance(x, Mapping)]
        named = ("name", "tool", "tool_name", "action")
        tool = next((payload[k] for k in named if isinstance(payload.get(k), str)), "")
        call = payload.get("tool_call_id")
        if not isinstance(call, str):
            nested = payload.get("calls")
            first = nested[0] if isinstance(nested, list) and nested else None
            call = first.get("id") if isinstance(first, Mapping) else ""
        return [(tool, call if isinstance(call, str) else "")]
    if "'action_requests'" in value:
        names = re.findall(r"'name': " + _QUOTED, value.split("'review_configs'", maxsplit=1)[0])
        return [(n, "") for n in names] or [("", "")]
    return [("", "")]


def _decision(value: Any) -> tuple[str | None, Mapping[str, Any]]:
    """A gate decision from one resume value, and the mapping it came from (for who and why)."""
    if isinstance(value, (str, bool)):
        if isinstance(value, str) and value.lower() in _HITL:
            return _HITL[value.lower()], {}
        found = canonical_value("gate.decision", value)
        return (found if found != "requested" else None), {}
    if isinstance(value, Mapping):
        for key in _DECISION_KEYS:
            if key in value:
                decision, _ = _decision(value[key])
                return decision, value
    return None, {}


def read_resume(out: Out, get: Any) -> None:
    """Decisions a resumed graph was given: `Command(resume=...)` as its root's input."""
    text = get(a.OI_INPUT_VALUE)
    if not isinstance(text, str) or not text.startswith("{") or '"resume"' not in text:
        return
    command = parse_json(text)
    if not isinstance(command, dict) or command.get("resume") is None:
        return
    resume = command["resume"]
    pairs: list[tuple[str, Any]]
    if isinstance(resume, Mapping) and isinstance(resume.get("decisions"), list):
        pairs = [("", d) for d in resume["decisions"]]
    elif (
        isinstance(resume, Mapping)
        and resume
        and all(re.fullmatch(r"[0-9a-f]{16,}", str(k)) for k in resume)
    ):
        pairs = []  # several interrupts answered at once, by interrupt id
        for key, value in resume.items():
            inner = value.get("decisions") if isinstance(value, Mapping) else None
            pairs += (
                [(str(key), d) for d in inner] if isinstance(inner, list) else [(str(key), value)]
            )
    else:
        pairs = [("", resume)]
    decisions: list[str] = []
    ids: list[str] = []
    approvers: list[str] = []
    reasons: list[str] = []
    for interrupt_id, value in pairs:
        decision, source = _decision(value)
        decisions.append(decision or "answered")  # an answer that is no decision still answers
        ids.append(interrupt_id)
        approvers.append(_first_text(source, _APPROVER_KEYS))
        reasons.append(_first_text(source, _REASON_KEYS))
    out["gate.decision"] = tuple(decisions)
    out["gate.id"] = tuple(ids)
    out["gate.approver"] = tuple(approvers)
    out["gate.reason"] = tuple(reasons)


def _first_text(source: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    return next((v for k in keys if isinstance(v := source.get(k), str) and v), "")


def refine(records: Sequence[SpanRecord], fields: list[dict[str, Any]]) -> None:
    """Trace-level signals: what only the shape of the tree shows.

    A `tools` node that ran no tool, raised nothing and paused for nothing was asked
    for a tool it does not have (with content hidden, nothing else says so). A
    model-call-limit hook after which no model ran stopped the run.
    """
    parents = {r.span.parent_span_id for r in records if r.span.parent_span_id}
    pairs = list(zip(records, fields, strict=True))
    llm_starts = [r.span.start_ns for r, f in pairs if f.get("span.kind") == "llm"]
    for record, f in pairs:
        if record.span.scope != SCOPE:
            continue
        hidden = OUTPUT_HIDDEN in f
        if (
            record.span.name == "tools"
            and f.get("span.kind") == "other"
            and record.span.span_id not in parents
            and f.get("status") != "error"
            and "gate.decision" not in f
            and hidden
        ):
            f["tool.unknown"] = ("(not recorded)",)
        if (
            record.span.name == "ModelCallLimitMiddleware.before_model"
            and f.get(OUTPUT_HIDDEN) == "__REDACTED__"
            and not any(start >= record.span.end_ns for start in llm_starts)
        ):
            f["limit.exceeded"] = "requests"
