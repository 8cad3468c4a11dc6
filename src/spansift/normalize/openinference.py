"""OpenInference (Arize): span kinds, tool and agent attributes, flattened messages.

One pass over the attributes collects the flattened lists (`llm.tools.*`,
`llm.output_messages.*`, `llm.input_messages.*`, `annotations.*`): tools offered,
tool calls proposed, trailing tool messages saying a tool is unknown (LangGraph's
ToolNode answers "X is not a valid tool"), and HUMAN annotations.
"""

from __future__ import annotations

import re
from typing import Any

from spansift import attrs as a
from spansift.model import Attributes
from spansift.normalize._util import (
    UNKNOWN_TOOL_TEXT,
    Out,
    add_results,
    add_unknown,
    args_digest,
    parse_json,
    result_outcome,
    set_first,
    tool_name,
    unknown_tool_name,
    verdict,
)

SPAN_KIND = {
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
_PREFIXES = (
    a.OI_TOOLS_PREFIX,
    a.OI_OUTPUT_MESSAGES_PREFIX,
    a.OI_INPUT_MESSAGES_PREFIX,
    a.OI_ANNOTATIONS_PREFIX,
)
# llm.output_messages.0.message.tool_calls.1.tool_call.function.name
_TOOL_CALL = re.compile(
    r"(\d+)\.message\.tool_calls\.(\d+)\.tool_call\.(function\.name|function\.arguments|id)$"
)
_MESSAGE = re.compile(r"(\d+)\.message\.(role|content|tool_call_id|name)$")
_ANNOTATION = re.compile(r"(\d+)\.annotation\.(name|label|annotator_kind|explanation)$")
_LANGGRAPH_NODE = re.compile(r'"langgraph_node":\s*"([^"]*)"')
_THREAD_ID = re.compile(r'"thread_id":\s*"([^"]+)"')


def kind(get: Any, name: str) -> str | None:
    oi_kind = get(a.OI_SPAN_KIND)
    if not isinstance(oi_kind, str):
        return None
    found = SPAN_KIND.get(oi_kind.upper())
    # The Agents SDK's handoff spans arrive as TOOL spans named "handoff to X".
    if found == "tool" and name.startswith("handoff to ") and get(a.OI_TOOL_NAME) is None:
        return "handoff"
    return found


def read(out: Out, get: Any, attributes: Attributes) -> None:
    set_first(out, "agent.name", get(a.OI_AGENT_NAME))
    set_first(out, "tool.name", get(a.OI_TOOL_NAME))
    set_first(out, "tool.call_id", get(a.OI_TOOL_ID))
    if out.get("span.kind") == "tool":
        set_first(out, "tool.args_digest", args_digest(get(a.OI_INPUT_VALUE)))
        output = get(a.OI_OUTPUT_VALUE)
        if isinstance(output, str) and output.startswith("{") and out.get("status") != "error":
            parsed = parse_json(output)
            if isinstance(parsed, dict) and {"error", "errors"} & set(parsed):
                out["tool.outcome"] = "handled_error"  # the tool returned its failure
    set_first(out, "session.id", get(a.OI_SESSION_ID))
    set_first(out, "user.id", get(a.OI_USER_ID))
    set_first(out, "step", get(a.OI_GRAPH_NODE_NAME))
    metadata = get(a.OI_METADATA)
    if isinstance(metadata, str) and "langgraph_node" in metadata:
        node = _LANGGRAPH_NODE.search(metadata)
        if node:
            set_first(out, "step", node.group(1))
    if isinstance(metadata, str) and "thread_id" in metadata:
        # A LangGraph thread is a run: the resume after an interrupt is a new trace.
        thread = _THREAD_ID.search(metadata)
        if thread:
            set_first(out, "session.id", thread.group(1))
    _flattened(out, attributes)


def _flattened(out: Out, attributes: Attributes) -> None:
    offered: list[str] = []
    calls: dict[tuple[int, int], dict[str, str]] = {}
    inputs: dict[int, dict[str, Any]] = {}
    notes: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        if not key.startswith(_PREFIXES):
            continue
        if key.startswith(a.OI_TOOLS_PREFIX):
            if key.endswith(a.OI_TOOL_JSON_SCHEMA_SUFFIX) and isinstance(value, str):
                found = tool_name(parse_json(value))
                if found:
                    offered.append(found)
        elif key.startswith(a.OI_OUTPUT_MESSAGES_PREFIX):
            m = _TOOL_CALL.search(key)
            if m:
                calls.setdefault((int(m[1]), int(m[2])), {})[m[3]] = str(value)
        elif key.startswith(a.OI_INPUT_MESSAGES_PREFIX):
            m = _MESSAGE.search(key)
            if m:
                inputs.setdefault(int(m[1]), {})[m[2]] = value
        else:
            m = _ANNOTATION.search(key)
            if m:
                notes.setdefault(int(m[1]), {})[m[2]] = value
    if offered:
        set_first(out, "tool.offered", tuple(dict.fromkeys(offered)))
    if calls:
        ordered = [calls[k] for k in sorted(calls)]
        set_first(out, "tool.proposed", tuple(c.get("function.name", "") for c in ordered))
        set_first(out, "tool.proposed_ids", tuple(c.get("id", "") for c in ordered))
        set_first(
            out,
            "tool.proposed_args",
            tuple(args_digest(c.get("function.arguments")) or "" for c in ordered),
        )
    if inputs:
        if "tool.offered" not in out:
            _unknown_tool_messages(out, inputs)
        add_results(
            out,
            [
                (str(m.get("tool_call_id") or ""), str(m.get("name") or ""),
                 result_outcome(m.get("content")))
                for _, m in sorted(inputs.items())
                if m.get("role") == "tool"
            ],
        )  # fmt: skip
    for note in (notes[k] for k in sorted(notes)):
        human = str(note.get("annotator_kind", "")).upper() == "HUMAN"
        if human:
            verdict(out, note.get("name"), note.get("label"), human=True)
            if "human.decision" in out:
                set_first(out, "human.reason", note.get("explanation"))
            elif "gate.decision" in out:
                set_first(out, "gate.justification", note.get("explanation"))


def _unknown_tool_messages(out: Out, inputs: dict[int, dict[str, Any]]) -> None:
    last_assistant = max((i for i, m in inputs.items() if m.get("role") == "assistant"), default=-1)
    names = []
    for i in sorted(inputs):
        message = inputs[i]
        content = message.get("content")
        if (
            i > last_assistant
            and message.get("role") == "tool"
            and isinstance(content, str)
            and UNKNOWN_TOOL_TEXT.search(content)
        ):
            names.append(unknown_tool_name(content))
    add_unknown(out, names)
