"""The Vercel AI SDK's own spans (`ai` tracer, ai 5 and 6): `ai.generateText` and friends.

A call to `generateText` / `streamText` is an agent span (its `ai.usage.*` repeat the
sum of its steps), each step an `ai.*.doGenerate` / `doStream` model span
(`ai.prompt.tools` offered, `ai.response.toolCalls` proposed, `ai.prompt.messages`
with the tool results the model saw), each executed tool an `ai.toolCall` span. The
agent is the app's `functionId`, copied onto every span; a session exists only as the
app's telemetry metadata. ai 7 with `@ai-sdk/otel` emits GenAI conventions instead
(read by `genai`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spansift.model import AttrValue, SpanRecord
from spansift.normalize._util import (
    Out,
    add_results,
    args_digest,
    parse_json,
    result_outcome,
    set_first,
    tool_name,
)

SCOPE = "ai"
SCOPE_OTEL = "gen_ai"  # ai 7 with @ai-sdk/otel: GenAI conventions, `step N` spans
STOPPED_ON_CALLS = "_vercel_ai.stopped_on_tool_calls"  # a private marker for refine()
_MODEL_STEPS = (".doGenerate", ".doStream")
_CALLS = ("ai.generateText", "ai.streamText", "ai.generateObject", "ai.streamObject")
_SESSION_KEYS = ("sessionId", "session_id", "conversationId", "conversation_id", "threadId",
                 "thread_id", "chatId", "chat_id")  # fmt: skip
_USER_KEYS = ("userId", "user_id")
_META = "ai.telemetry.metadata."
_OUTCOMES = {"error-text": "error", "error-json": "error", "execution-denied": "denied"}


def kind(name: str) -> str | None:
    if name == "ai.toolCall":
        return "tool"
    if name.endswith(_MODEL_STEPS) and name.startswith("ai."):
        return "llm"
    if name in _CALLS:
        return "agent"
    return None


def read(out: Out, get: Any, name: str) -> None:
    """Fields of one `ai.*` span."""
    found = kind(name)
    if found is not None:
        out["span.kind"] = found
    set_first(out, "agent.name", get("ai.telemetry.functionId"))
    set_first(out, "session.id", *(get(_META + k) for k in _SESSION_KEYS))
    set_first(out, "user.id", *(get(_META + k) for k in _USER_KEYS))
    _usage(out, get)
    if found == "tool":
        set_first(out, "tool.name", get("ai.toolCall.name"))
        set_first(out, "tool.call_id", get("ai.toolCall.id"))
        set_first(out, "tool.args_digest", args_digest(get("ai.toolCall.args")))
        result = get("ai.toolCall.result")
        failed = result is not None and result_outcome(result) == "error"
        if failed and out.get("status") != "error":
            out["tool.outcome"] = "handled_error"
    elif found == "llm":
        _model_step(out, get)
    elif found == "agent":
        out["usage.aggregate"] = True
        if get("ai.response.finishReason") == "tool-calls":
            out[STOPPED_ON_CALLS] = True
        prompt = parse_json(get("ai.prompt") or "")
        if isinstance(prompt, Mapping) and isinstance(prompt.get("messages"), list):
            _messages(out, prompt["messages"])  # the answers a resumed call starts with


def read_otel(out: Out, get: Any) -> None:
    """ai 7 (`@ai-sdk/otel`): the GenAI reading does the rest; note a call cut off on tools."""
    reasons = get("gen_ai.response.finish_reasons")
    if out.get("span.kind") == "agent" and "tool-calls" in (
        reasons if isinstance(reasons, tuple) else (reasons,)
    ):
        out[STOPPED_ON_CALLS] = True


def _usage(out: Out, get: Any) -> None:
    for key, field in (
        ("ai.usage.inputTokens", "usage.input_tokens"),
        ("ai.usage.promptTokens", "usage.input_tokens"),
        ("ai.usage.outputTokens", "usage.output_tokens"),
        ("ai.usage.completionTokens", "usage.output_tokens"),
        ("ai.usage.totalTokens", "usage.total_tokens"),
    ):
        value = get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            set_first(out, field, value)


def _model_step(out: Out, get: Any) -> None:
    tools = get("ai.prompt.tools")
    entries = tools if isinstance(tools, tuple) else (tools,) if isinstance(tools, str) else ()
    offered = [n for n in (tool_name(parse_json(t)) for t in entries if isinstance(t, str)) if n]
    if offered:
        out["tool.offered"] = tuple(dict.fromkeys(offered))
    calls = parse_json(get("ai.response.toolCalls") or "")
    if isinstance(calls, list):
        parsed = [c for c in calls if isinstance(c, Mapping)]
        if parsed:
            out["tool.proposed"] = tuple(str(c.get("toolName", "")) for c in parsed)
            out["tool.proposed_ids"] = tuple(str(c.get("toolCallId", "")) for c in parsed)
            out["tool.proposed_args"] = tuple(
                args_digest(c.get("input", c.get("args"))) or "" for c in parsed
            )
    messages = parse_json(get("ai.prompt.messages") or "")
    if isinstance(messages, list):
        _messages(out, messages)


def _messages(out: Out, messages: list[Any]) -> None:
    """Tool results and approval answers in the prompt of a step."""
    results: list[tuple[str, str, str]] = []
    requests: dict[str, tuple[str, str]] = {}
    answers: list[tuple[str, bool, str]] = []
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else None
        for part in content if isinstance(content, list) else ():
            if not isinstance(part, Mapping):
                continue
            kind_ = part.get("type")
            if kind_ == "tool-result":
                output = part.get("output")
                outcome = "ok"
                if isinstance(output, Mapping):
                    outcome = _OUTCOMES.get(str(output.get("type")), "ok")
                    if outcome == "error":
                        outcome = result_outcome(f"error: {output.get('value')}")
                results.append(
                    (str(part.get("toolCallId", "")), str(part.get("toolName", "")), outcome)
                )
            elif kind_ == "tool-approval-request":
                requests[str(part.get("approvalId", ""))] = (
                    str(part.get("toolCallId", "")),
                    str(part.get("toolName", "")),
                )
            elif kind_ == "tool-approval-response" and isinstance(part.get("approved"), bool):
                answers.append(
                    (
                        str(part.get("approvalId", "")),
                        bool(part["approved"]),
                        str(part.get("reason") or ""),
                    )
                )
    add_results(out, results)
    if answers:
        out["gate.decision"] = tuple("approved" if ok else "denied" for _, ok, _ in answers)
        out["gate.id"] = tuple(a for a, _, _ in answers)
        out["gate.call_id"] = tuple(requests.get(a, ("", ""))[0] for a, _, _ in answers)
        out["gate.tool"] = tuple(requests.get(a, ("", ""))[1] for a, _, _ in answers)
        out["gate.reason"] = tuple(r for _, _, r in answers)


def refine(records: Sequence[SpanRecord], fields: list[dict[str, AttrValue]]) -> None:
    """A call that stopped on tool calls after every proposed call of its last step ran hit
    its step limit (`stopWhen`): a loop cap, when it took more than one step."""
    parent = {r.span.span_id: r.span.parent_span_id for r in records}
    ran = {
        str(f["tool.call_id"])
        for f in fields
        if f.get("span.kind") == "tool" and isinstance(f.get("tool.call_id"), str)
    }
    steps: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        if fields[index].get("span.kind") != "llm" or record.span.scope not in (SCOPE, SCOPE_OTEL):
            continue
        # ai 6: a step is the call's child; ai 7: a `step N` span sits between them.
        up = record.span.parent_span_id
        for _ in range(2):
            if up is None:
                break
            steps.setdefault(up, []).append(index)
            up = parent.get(up)
    for index, record in enumerate(records):
        f = fields[index]
        if record.span.scope not in (SCOPE, SCOPE_OTEL) or f.get("span.kind") != "agent":
            continue
        if not f.get(STOPPED_ON_CALLS):
            continue
        mine = steps.get(record.span.span_id, [])
        if len(mine) < 2:
            continue  # one step: the call was never allowed to loop
        last = max(mine, key=lambda i: records[i].span.end_ns)
        proposed = fields[last].get("tool.proposed_ids")
        if isinstance(proposed, tuple) and proposed and all(c in ran for c in proposed):
            f["limit.exceeded"] = "steps"
