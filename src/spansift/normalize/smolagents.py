"""smolagents as openinference-instrumentation-smolagents records it.

An agent's run is a span `<name>.run` (the only place its name appears) with the tools it
was given in `smolagents.tools_names`, its step limit in `smolagents.max_steps` and a usage
total repeating its steps' model calls; each action step is a `Step n` span whose ERROR
message is the error the model is shown. `final_answer` is the framework's way to answer,
not a tool. A managed agent's run nests under its manager's step: a delegation, not a
transfer of control. Earlier turns reach the model as text (`tool-response` messages), so
a rejected final answer (`final_answer_checks`) is only the text "Check <fn> failed".
A run that hits `max_steps` raises nothing: its steps number `max_steps` and a last model
call under the run span writes the fallback answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from spansift import attrs as a
from spansift.model import AttrValue, SpanRecord
from spansift.normalize._util import Out, args_digest, set_first

SCOPE = "openinference.instrumentation.smolagents"
_RUN = ".run"
_UNNAMED = frozenset({"ToolCallingAgent", "CodeAgent", "MultiStepAgent"})
_STEP = re.compile(r"^Step \d+$")
_CHECK_FAILED = re.compile(r"Error:\s*Check (?P<name>\w+) failed")
_TEXTS = re.compile(r"^llm\.input_messages\.(\d+)\.message\.contents\.\d+\.message_content\.text$")
_BAD_ARGUMENTS = "AgentToolCallError"
# Private markers for refine(), which sees no raw attributes.
MAX_STEPS = "_smolagents.max_steps"
MANAGED = "_smolagents.managed_agents"
CHECK_FAILED = "_smolagents.check_failed"


def read(out: Out, get: Any, name: str, attributes: Any) -> None:
    """smolagents-specific fields of one span (after the OpenInference reading)."""
    kind = out.get("span.kind")
    if kind == "agent" and name.endswith(_RUN):
        agent = name[: -len(_RUN)]
        if agent and agent not in _UNNAMED:
            set_first(out, "agent.name", agent)
        tools = get("smolagents.tools_names")
        if isinstance(tools, tuple):
            out["tool.offered"] = tuple(str(t) for t in tools if t != "final_answer")
        out["usage.aggregate"] = True
        limit = get("smolagents.max_steps")
        if isinstance(limit, int):
            out[MAX_STEPS] = limit
        managed = tuple(
            str(v)
            for k, v in attributes.items()
            if k.startswith("smolagents.managed_agents.") and k.endswith(".name")
        )
        if managed:
            out[MANAGED] = managed
    elif kind == "tool":
        if out.get("tool.name") == "final_answer":
            out["tool.type"] = "builtin"
        set_first(out, "tool.args_digest", args_digest(get(a.OI_INPUT_VALUE)))
    elif kind == "llm":
        for key, value in attributes.items():
            if isinstance(value, str) and _TEXTS.match(key):
                found = _CHECK_FAILED.search(value)
                if found is not None:
                    out[CHECK_FAILED] = found.group("name")


def refine(records: Sequence[SpanRecord], fields: list[dict[str, AttrValue]]) -> None:
    """Step limits, arguments a tool refused, final-answer checks and delegations."""
    mine = [i for i, r in enumerate(records) if r.span.scope == SCOPE]
    if not mine:
        return
    children: dict[str, list[int]] = {}
    for i in mine:
        parent = records[i].span.parent_span_id
        if parent:
            children.setdefault(parent, []).append(i)
    managed = {str(n) for i in mine for n in _names(fields[i].get(MANAGED))}
    reported: set[str] = set()
    for i in sorted(mine, key=lambda i: records[i].span.start_ns):
        unknown = fields[i].get("tool.unknown")
        if isinstance(unknown, tuple) and managed & set(unknown):
            rest = tuple(n for n in unknown if n not in managed)  # a managed agent is offered
            if rest:
                fields[i]["tool.unknown"] = rest
            else:
                del fields[i]["tool.unknown"]
        f, span = fields[i], records[i].span
        below = children.get(span.span_id, [])
        if f.get("span.kind") == "agent" and span.name.endswith(_RUN):
            _max_steps(records, fields, i, below)
            _delegation(records, fields, i)
        elif _STEP.match(span.name) and f.get("status") == "error":
            _refused_arguments(records, fields, i, below)
        check = f.get(CHECK_FAILED)
        if isinstance(check, str) and check not in reported:
            reported.add(check)  # later model calls see the same message again
            f["guardrail.name"] = check
            f["guardrail.result"] = "blocked"
            f["guardrail.target"] = "output"


def _max_steps(
    records: Sequence[SpanRecord], fields: list[dict[str, AttrValue]], run: int, below: list[int]
) -> None:
    limit = fields[run].get(MAX_STEPS)
    steps = [c for c in below if _STEP.match(records[c].span.name)]
    if not isinstance(limit, int) or not steps or len(steps) < limit:
        return
    last_step = max(records[c].span.end_ns for c in steps)
    fallback = any(
        fields[c].get("span.kind") == "llm" and records[c].span.start_ns >= last_step for c in below
    )
    if fallback:
        fields[run]["limit.exceeded"] = "steps"


def _delegation(
    records: Sequence[SpanRecord], fields: list[dict[str, AttrValue]], run: int
) -> None:
    """A managed agent's run under its manager's step: the manager delegated to it."""
    by_id = {r.span.span_id: i for i, r in enumerate(records)}
    up = records[run].span.parent_span_id
    for _ in range(3):
        index = by_id.get(up or "")
        if index is None:
            return
        if fields[index].get("span.kind") == "agent":
            manager = fields[index].get("agent.name")
            agent = fields[run].get("agent.name")
            if isinstance(agent, str) and isinstance(manager, str):
                fields[run]["handoff.to"] = agent
                fields[run]["handoff.from"] = manager
                fields[run]["tool.type"] = "agent"
            return
        up = records[index].span.parent_span_id


def _refused_arguments(
    records: Sequence[SpanRecord], fields: list[dict[str, AttrValue]], step: int, below: list[int]
) -> None:
    """A step that failed because a tool refused its arguments never ran the tool."""
    f = fields[step]
    if _BAD_ARGUMENTS not in str(f.get("error.type", "")) + str(f.get("error.message", "")):
        return
    if any(fields[c].get("span.kind") == "tool" for c in below):
        return
    proposed = next(
        (fields[c].get("tool.proposed") for c in below if fields[c].get("span.kind") == "llm"),
        None,
    )
    if isinstance(proposed, tuple) and proposed:
        f["span.kind"] = "tool"
        f["tool.name"] = str(proposed[0])
        f["tool.outcome"] = "error"


def _names(value: object) -> tuple[object, ...]:
    return value if isinstance(value, tuple) else ()
