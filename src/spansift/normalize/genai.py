"""OpenTelemetry GenAI semantic conventions, including names still in the field.

Reads agent, tool, usage and context attributes (`gen_ai.system` as well as
`gen_ai.provider.name`, `gen_ai.usage.prompt_tokens` as well as `input_tokens`),
the tool calls a model proposed in `gen_ai.output.messages`, tool responses in
`gen_ai.input.messages` that say the tool does not exist, and the
`gen_ai.evaluation.result` and `exception` events. Message JSON is parsed only
when its key is present (content capture is opt-in).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spansift import attrs as a
from spansift.model import Event
from spansift.normalize._util import (
    UNKNOWN_TOOL_TEXT,
    Out,
    add_results,
    add_unknown,
    args_digest,
    first,
    number,
    parse_json,
    result_outcome,
    set_first,
    tool_name,
    unknown_tool_name,
    verdict,
)

OPERATION_KIND = {
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


def read(out: Out, get: Any, name: str, kind: str) -> None:
    operation = get(a.GEN_AI_OPERATION)
    set_first(out, "agent.name", get(a.GEN_AI_AGENT_NAME))
    set_first(out, "agent.id", get(a.GEN_AI_AGENT_ID))
    set_first(out, "run.id", get(a.GEN_AI_AGENT_CALL_ID))
    tool = get(a.GEN_AI_TOOL_NAME)
    if tool is None and kind == "tool" and operation == "execute_tool":
        tool = name.removeprefix("execute_tool").strip() or None
    set_first(out, "tool.name", tool)
    set_first(out, "tool.call_id", get(a.GEN_AI_TOOL_CALL_ID))
    set_first(out, "tool.args_digest", args_digest(get(a.GEN_AI_TOOL_CALL_ARGUMENTS)))
    set_first(out, "workflow", get(a.GEN_AI_WORKFLOW))
    set_first(out, "session.id", get(a.GEN_AI_CONVERSATION))
    set_first(out, "user.id", get(a.ENDUSER_ID))
    set_first(out, "error.type", get(a.ERROR_TYPE))
    _usage(out, get)
    reasons = get(a.GEN_AI_FINISH_REASONS)
    if reasons is not None and "content_filter" in (
        reasons if isinstance(reasons, tuple) else (reasons,)
    ):
        # The provider's content filter withheld the answer: a guardrail outside the app.
        set_first(out, "guardrail.name", "content_filter")
        set_first(out, "guardrail.result", "blocked")
    offered = _offered(get(a.GEN_AI_TOOL_DEFINITIONS))
    if offered:
        out["tool.offered"] = offered
    output = get(a.GEN_AI_OUTPUT_MESSAGES)
    if isinstance(output, str):
        parsed_output = parse_json(output)
        _proposed(out, parsed_output)
        if "tool_approval_request" in output:
            _approval_requests(out, parsed_output)
    inputs = get(a.GEN_AI_INPUT_MESSAGES)
    if isinstance(inputs, str) and "tool_approval_response" in inputs:
        _approval_responses(out, parse_json(inputs))
    if isinstance(inputs, str) and "tool_call_response" in inputs:
        parsed = parse_json(inputs)
        _results(out, parsed)
        # With the tools offered known, proposals are checked instead (`unknown_proposals`).
        if not offered and UNKNOWN_TOOL_TEXT.search(inputs):
            _unknown_responses(out, parsed)


def _usage(out: Out, get: Any) -> None:
    input_tokens = number(
        first(get(a.GEN_AI_INPUT_TOKENS), get(a.OI_PROMPT_TOKENS), get(a.GEN_AI_PROMPT_TOKENS_OLD))
    )
    output_tokens = number(
        first(
            get(a.GEN_AI_OUTPUT_TOKENS),
            get(a.OI_COMPLETION_TOKENS),
            get(a.GEN_AI_COMPLETION_TOKENS_OLD),
        )
    )
    total = number(first(get(a.OI_TOTAL_TOKENS), get(a.LLM_TOTAL_TOKENS_OLD)))
    if input_tokens is not None:
        out["usage.input_tokens"] = input_tokens
    if output_tokens is not None:
        out["usage.output_tokens"] = output_tokens
    if total is None and (input_tokens is not None or output_tokens is not None):
        total = (input_tokens or 0) + (output_tokens or 0)
    if total is not None:
        out["usage.total_tokens"] = total


def _offered(definitions: Any) -> tuple[str, ...]:
    if not isinstance(definitions, str):
        return ()
    parsed = parse_json(definitions)
    if not isinstance(parsed, list):
        return ()
    return tuple(dict.fromkeys(n for n in map(tool_name, parsed) if n))


def _parts(message: Any) -> list[Any]:
    parts = message.get("parts") if isinstance(message, Mapping) else None
    return parts if isinstance(parts, list) else []


def _proposed(out: Out, messages: Any) -> None:
    """Tool calls the model proposed: names and call ids, in order."""
    if not isinstance(messages, list):
        return
    names: list[str] = []
    ids: list[str] = []
    digests: list[str] = []
    for message in messages:
        for part in _parts(message):
            if isinstance(part, Mapping) and part.get("type") == "tool_call":
                names.append(str(part.get("name") or ""))
                ids.append(str(part.get("id") or ""))
                digests.append(args_digest(part.get("arguments")) or "")
    if names:
        out["tool.proposed"] = tuple(names)
        out["tool.proposed_ids"] = tuple(ids)
        out["tool.proposed_args"] = tuple(digests)


def _typed_parts(messages: Any, kind: str) -> list[Mapping[str, Any]]:
    if not isinstance(messages, list):
        return []
    return [
        part
        for message in messages
        for part in _parts(message)
        if isinstance(part, Mapping) and part.get("type") == kind
    ]


def _approval_requests(out: Out, messages: Any) -> None:
    """Calls a model turn held for approval (the AI SDK's `tool_approval_request` parts)."""
    names = {
        str(p.get("id")): str(p.get("name") or "") for p in _typed_parts(messages, "tool_call")
    }
    requests = _typed_parts(messages, "tool_approval_request")
    if requests:
        out["gate.decision"] = tuple("requested" for _ in requests)
        out["gate.id"] = tuple(str(p.get("approval_id") or "") for p in requests)
        out["gate.call_id"] = tuple(str(p.get("tool_call_id") or "") for p in requests)
        out["gate.tool"] = tuple(names.get(str(p.get("tool_call_id")), "") for p in requests)


def _approval_responses(out: Out, messages: Any) -> None:
    """Approval answers a model turn was given (`tool_approval_response` parts)."""
    asked = {
        str(p.get("approval_id")): str(p.get("tool_call_id") or "")
        for p in _typed_parts(messages, "tool_approval_request")
    }
    answers = [
        p
        for p in _typed_parts(messages, "tool_approval_response")
        if isinstance(p.get("approved"), bool)
    ]
    if answers and "gate.decision" not in out:
        out["gate.decision"] = tuple("approved" if p["approved"] else "denied" for p in answers)
        out["gate.id"] = tuple(str(p.get("approval_id") or "") for p in answers)
        out["gate.call_id"] = tuple(asked.get(str(p.get("approval_id")), "") for p in answers)
        out["gate.reason"] = tuple(str(p.get("reason") or "") for p in answers)


def _results(out: Out, messages: Any) -> None:
    """Tool results shown to the model: call ids, tool names and whether they failed."""
    if not isinstance(messages, list):
        return
    found: list[tuple[str, str, str]] = []
    for message in messages:
        for part in _parts(message):
            if isinstance(part, Mapping) and part.get("type") == "tool_call_response":
                content = part.get("response", part.get("result"))
                found.append(
                    (
                        str(part.get("id") or ""),
                        str(part.get("name") or ""),
                        result_outcome(content),
                    )
                )
    add_results(out, found)


def _unknown_responses(out: Out, messages: Any) -> None:
    """Tool responses since the model last spoke that say the tool does not exist."""
    if not isinstance(messages, list):
        return
    last_assistant = max(
        (
            i
            for i, m in enumerate(messages)
            if isinstance(m, Mapping) and m.get("role") == "assistant"
        ),
        default=-1,
    )
    names: list[str] = []
    for message in messages[last_assistant + 1 :]:
        for part in _parts(message):
            if not isinstance(part, Mapping) or part.get("type") != "tool_call_response":
                continue
            text = str(part.get("result") or part.get("response") or "")
            if UNKNOWN_TOOL_TEXT.search(text):
                names.append(str(part.get("name") or unknown_tool_name(text)))
    add_unknown(out, names)


def read_event(out: Out, event: Event) -> None:
    ev = event.attributes
    if event.name == a.EXCEPTION_EVENT:
        set_first(out, "error.type", ev.get(a.EXCEPTION_TYPE))
        set_first(out, "error.message", ev.get(a.EXCEPTION_MESSAGE))
    elif event.name == a.GEN_AI_EVALUATION_EVENT:
        for key, field in (
            (a.GEN_AI_EVALUATION_NAME, "evaluation.name"),
            (a.GEN_AI_EVALUATION_LABEL, "evaluation.label"),
            (a.GEN_AI_EVALUATION_SCORE, "evaluation.score"),
            (a.GEN_AI_EVALUATION_EXPLANATION, "evaluation.explanation"),
        ):
            set_first(out, field, ev.get(key))
        verdict(
            out, ev.get(a.GEN_AI_EVALUATION_NAME), ev.get(a.GEN_AI_EVALUATION_LABEL), human=False
        )
        explanation = ev.get(a.GEN_AI_EVALUATION_EXPLANATION)
        if "gate.decision" in out:
            set_first(out, "gate.justification", explanation)
        elif "human.decision" in out:
            set_first(out, "human.reason", explanation)
