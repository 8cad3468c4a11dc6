"""Small value helpers shared by the convention modules."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from spansift.model import AttrValue

Out = dict[str, AttrValue]

# Texts frameworks use when the model asked for a tool that does not exist:
# pydantic-ai's retry prompt, LangGraph's ToolNode, the OpenAI Agents SDK.
UNKNOWN_TOOL_TEXT = re.compile(
    r"unknown tool|tool not found|is not a valid tool|no tool named|tool \S+ not found"
    r"|unavailable tool|tool does not exist|requested tool does not exist|no such tool"
    r"|no tool with that name|is not among the explicitly allowed tools",
    re.I,
)
_UNKNOWN_TOOL_NAME = re.compile(
    r"unknown tool name: '(?P<a>[^']+)'"
    r"|(?P<b>[\w.-]+) is not a valid tool"
    r"|tool (?P<c>[\w.-]+) not found"
    r"|'tool_name': '(?P<d>[^']+)'"
    r"|no tool named '?(?P<e>[\w.-]+)",
    re.I,
)


def unknown_tool_name(text: str) -> str:
    """The tool name an unknown-tool message names, or "" when it names none."""
    found = _UNKNOWN_TOOL_NAME.search(text)
    if found is None:
        return ""
    return next((v for v in found.groupdict().values() if v), "")


def first(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    return None


def set_first(out: Out, key: str, *values: Any) -> None:
    """Set `key` to the first present value unless a convention read earlier already did."""
    if key in out:
        return
    for value in values:  # `first`, inlined: this runs dozens of times per span
        if value is not None and value != "":
            out[key] = value
            return


def lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def tool_name(definition: Any) -> str | None:
    """The name in a tool definition: `{"name": ...}` or `{"function": {"name": ...}}`."""
    if not isinstance(definition, Mapping):
        return None
    name = definition.get("name")
    function = definition.get("function")
    if not name and isinstance(function, Mapping):
        name = function.get("name")
    return name if isinstance(name, str) and name else None


def add_unknown(out: Out, names: list[str]) -> None:
    """Record tools reported or found unknown, keeping earlier ones first."""
    if not names:
        return
    known = out.get("tool.unknown")
    merged = (*known, *names) if isinstance(known, tuple) else tuple(names)
    out["tool.unknown"] = tuple(dict.fromkeys(merged))


# Labels of approval and human-review verdicts, as evaluation events and
# annotations spell them, mapped to spansift's decisions.
GATE_LABELS = {
    **dict.fromkeys(("approved", "approve", "allow", "allowed", "accept", "accepted"), "approved"),
    **dict.fromkeys(("denied", "deny", "rejected", "reject", "blocked", "block"), "denied"),
    **dict.fromkeys(("escalated", "escalate"), "escalated"),
    **dict.fromkeys(("pending", "requested"), "pending"),
}
HUMAN_LABELS = {
    **dict.fromkeys(("accepted", "accept", "approved", "correct", "thumbs_up", "good"), "accepted"),
    **dict.fromkeys(
        ("rejected", "reject", "denied", "incorrect", "thumbs_down", "bad"), "rejected"
    ),
    **dict.fromkeys(("edited", "edit", "corrected", "modified", "overridden"), "edited"),
}
APPROVAL_NAME = re.compile(r"approv|gate", re.I)
HUMAN_NAME = re.compile(r"human|review|feedback|annotation", re.I)


def verdict(out: Out, name: Any, label: Any, *, human: bool) -> None:
    """Map a named verdict (evaluation event, annotation) to gate or human decisions."""
    if not isinstance(name, str) or not isinstance(label, str):
        return
    key = label.strip().lower()
    if APPROVAL_NAME.search(name) and key in GATE_LABELS:
        set_first(out, "gate.name", name)
        set_first(out, "gate.decision", GATE_LABELS[key])
    elif (human or HUMAN_NAME.search(name)) and key in HUMAN_LABELS:
        set_first(out, "human.decision", HUMAN_LABELS[key])


def args_digest(value: Any) -> str | None:
    """A short digest of a call's arguments: equal for equal arguments, never their content.

    JSON text is compared by value (key order and spacing do not matter). A digest of an
    argument object starts with "o", of anything else (a bare value) with "v": only two
    object digests say whether the same call was made with other arguments.
    """
    if value is None or value == "":
        return None
    parsed = parse_json(value) if isinstance(value, str) else value
    kind = "o" if isinstance(parsed, Mapping) else "v"
    text = value if parsed is None else json.dumps(parsed, sort_keys=True, default=str)
    return kind + hashlib.blake2b(str(text).encode(), digest_size=8).hexdigest()


# A tool result the model was shown that reports a failure: an object with an error key,
# or a text that starts by saying so (LangGraph's ToolNode, most hand-written tool loops).
_ERROR_TEXT = re.compile(r"\s*(error|exception|traceback|failed|failure)\b", re.I)
_ERROR_KEYS = frozenset({"error", "errors", "exception"})
# A Python repr of a dict with an error key (frameworks that print results with str()).
_REPR_ERROR = re.compile(
    r"^\{[^{}]{0,200}?['\"](error|errors|exception)['\"]\s*:\s*(?!None|False|null)"
)
# A call the framework refused because a tool-call limit was reached.
_LIMITED = re.compile(
    r"tool call limit (reached|exceeded)|call limit reached|reached its usage limit", re.I
)
# A result telling the model a person (or the app's approval step) refused the call:
# "Tool execution was not approved.", "The tool call was denied.", "User rejected the tool
# call", "The operator declined this action." A tool's own "access denied" is not one.
_PEOPLE = r"(user|human|operator|reviewer|approver|manager|admin|supervisor|person|customer)s?"
_REFUSED = r"(declined|denied|rejected|refused|vetoed)"
_DENIED_TEXT = re.compile(
    rf"not approved|approval (was )?{_REFUSED}|\b{_PEOPLE}\b[^.]{{0,40}}\b{_REFUSED}\b"
    rf"|\b{_REFUSED} by (the )?{_PEOPLE}\b|(tool )?call was {_REFUSED}|execution.denied"
    r"|rejected by the approver|without approval|execution blocked by hook",
    re.I,
)


def result_outcome(content: Any) -> str:
    """What a tool result the model saw says: error, not_found, denied, limited, else ok."""
    if isinstance(content, Mapping):
        for key in ("error", "errors", "exception", "message", "text"):
            text = content.get(key)
            if isinstance(text, str) and key in _ERROR_KEYS | {"text"}:
                found = result_outcome(text)
                if found in ("not_found", "denied"):
                    return found
        if _ERROR_KEYS & set(content) or content.get("isError") is True:
            return "error"
        status = content.get("status")
        if isinstance(status, str) and status.lower() == "error":
            return "error"
        if content.get("type") in ("execution-denied", "execution_denied"):
            return "denied"
        text = content.get("text")  # an MCP text part
        return (
            result_outcome(text)
            if content.get("type") == "text" and isinstance(text, str)
            else "ok"
        )
    if isinstance(content, list):
        return "ok"
    if not isinstance(content, str):
        return "ok"
    text = content.lstrip()
    if text[:1] in "{[":
        parsed = parse_json(text)
        if parsed is not None:
            return result_outcome(parsed)
        if _REPR_ERROR.match(text):
            return "error"
    if _LIMITED.search(text[:300]):
        return "limited"
    if UNKNOWN_TOOL_TEXT.search(text[:500]):
        return "not_found"
    if _DENIED_TEXT.search(text[:500]):
        return "denied"
    return "error" if _ERROR_TEXT.match(text) else "ok"


def add_results(out: Out, results: list[tuple[str, str, str]]) -> None:
    """Record tool results (call id, tool name, outcome) shown to a model, in order."""
    if not results:
        return
    out["tool.result_ids"] = tuple(r[0] for r in results)
    out["tool.result_names"] = tuple(r[1] for r in results)
    out["tool.result_outcomes"] = tuple(r[2] for r in results)
