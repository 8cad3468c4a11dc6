"""The OpenAI Agents SDK as openinference-instrumentation-openai-agents records it.

The SDK's `SpanError`s reach OTel only as the status message "<message>: <data>"
(read by `frameworks.read_message` where the text is shared with other stacks),
guardrail spans lose their `triggered` flag, tool guardrails leave no span of their
own, and a call that waits for approval ends its function span with input but no
output. A tool's result is its span's `output.value`; an `{"error": ...}` result or an
MCP error text leaves the span OK.
"""

from __future__ import annotations

import re
from typing import Any

from spansift import attrs as a
from spansift.normalize._util import Out, parse_json, result_outcome, set_first

SCOPE = "openinference.instrumentation.openai_agents"
# agents/run_internal/tool_execution.py: a tool guardrail with behaviour raise_exception.
_TOOL_GUARDRAIL = re.compile(
    r"Tool (?P<stage>input|output) guardrail (?P<name>\S+) triggered tripwire", re.I
)


def read(out: Out, get: Any) -> None:
    """Agents-SDK-specific fields of one span (after the OpenInference reading)."""
    if out.get("span.kind") != "tool" or "handoff.to" in out:
        return
    message = out.get("error.message")
    tripped = _TOOL_GUARDRAIL.search(message) if isinstance(message, str) else None
    if tripped is not None:
        set_first(out, "guardrail.name", tripped.group("name"))
        out["guardrail.result"] = "blocked"
        out["guardrail.target"] = f"tool_{tripped.group('stage')}"
        # An input guardrail stopped the call before it ran; an output one hid what it gave.
        out["tool.outcome"] = "denied" if tripped.group("stage") == "input" else "ok"
        return
    output = get(a.OI_OUTPUT_VALUE)
    if output is None:
        if out.get("status") == "error":
            return
        if get(a.OI_INPUT_VALUE) is not None:
            # The call waits at an approval gate: the SDK ended its span before running it.
            set_first(out, "gate.name", out.get("tool.name"))
            set_first(out, "gate.decision", "requested")
            out["tool.outcome"] = "pending"
        else:
            # Content not recorded: a paused call looks like one that ran, so whether an
            # approval came first cannot be told.
            out["tool.approval"] = "unknown"
        return
    if out.get("status") != "error" and _failed(output):
        out["tool.outcome"] = "handled_error"


def _failed(output: Any) -> bool:
    """Whether a tool's result reports a failure (an error object, an MCP error text)."""
    if not isinstance(output, str):
        return False
    parsed = parse_json(output) if output[:1] in "{[" else None
    if isinstance(parsed, list):  # MCP content: a list of parts
        return any(result_outcome(part) == "error" for part in parsed)
    return result_outcome(parsed if parsed is not None else output) == "error"
