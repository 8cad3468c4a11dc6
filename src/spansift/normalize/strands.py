"""Strands Agents' built-in tracing (scope `strands.telemetry.tracer`).

Spans follow the GenAI conventions; what is Strands' own: the tools an agent was given in
`gen_ai.agent.tools`, the run's stop reason in the agent span's `gen_ai.choice` event
(`interrupt`, `limit_turns`, `limit_total_tokens`, `guardrail_intervened`), the pause's
requests as the repr of `Interrupt`s in that event, tool results as `toolResult` blocks in
the events of the loop cycle and the next model call, and a usage total on the agent span
that sums every invocation of the same `Agent` object. A hook that cancels a call
(`cancel_tool`, a policy intervention) runs no tool: the call exists only as an error
result; an intervention's refusal starts with "DENIED:".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from spansift.model import AttrValue, Event, SpanRecord
from spansift.normalize._util import (
    Out,
    add_results,
    args_digest,
    parse_json,
    result_outcome,
    set_first,
)

SCOPE = "strands.telemetry.tracer"
_CHOICE, _TOOL_MESSAGE = "gen_ai.choice", "gen_ai.tool.message"
_STOPS = {
    "limit_turns": ("limit.exceeded", "turns"),
    "limit_total_tokens": ("limit.exceeded", "tokens"),
    "limit_output_tokens": ("limit.exceeded", "tokens"),
    "limit_input_tokens": ("limit.exceeded", "tokens"),
    "max_tokens": ("limit.exceeded", "tokens"),
}
_INTERRUPT = re.compile(
    r"'id': 'v1:(?P<where>before_tool_call|tool_call):(?P<call>[^:']+):[^']*',"
    r" 'name': '(?P<name>[^']*)'"
)
_HANDOFF_TO_USER = "strands:handoff-to-user"
_POLICY_DENIED = "DENIED:"
NO_STATUS = "_strands.tool_without_status"  # a private marker for refine()


def read(out: Out, get: Any, events: Sequence[Event]) -> None:
    """Strands-specific fields of one span (after the GenAI reading)."""
    kind = out.get("span.kind")
    if kind == "agent":
        tools = parse_json(get("gen_ai.agent.tools") or "")
        if isinstance(tools, list) and tools:
            out["tool.offered"] = tuple(str(t) for t in tools)
        out["usage.aggregate"] = True  # sums every invocation of the Agent object
    results: list[tuple[str, str, str]] = []
    for event in events:
        attrs = event.attributes
        if event.name == _CHOICE:
            _choice(out, kind, attrs)
            results += _tool_results(attrs.get("tool.result"))
        elif event.name == _TOOL_MESSAGE:
            if kind == "tool":
                set_first(out, "tool.args_digest", args_digest(attrs.get("content")))
            else:
                results += _tool_results(attrs.get("content"))
    if results and "tool.result_ids" not in out:
        add_results(out, list(dict.fromkeys(results)))
    if kind == "tool" and out.get("tool.name") == "handoff_to_agent":
        out["tool.type"] = "handoff"
    if kind == "tool" and get("gen_ai.tool.status") is None:
        out[NO_STATUS] = True  # a tool that paused itself to ask ends with no status


def _choice(out: Out, kind: Any, attrs: Mapping[str, Any]) -> None:
    reason = attrs.get("finish_reason")
    message = attrs.get("message")
    stop = _STOPS.get(str(reason))
    if stop is not None:
        out[stop[0]] = stop[1]
    if reason == "guardrail_intervened":
        out["guardrail.name"] = "model guardrail"
        out["guardrail.result"] = "blocked"
    if kind == "llm" and isinstance(message, str) and '"toolUse"' in message:
        _proposals(out, parse_json(message))
    if reason == "interrupt" and isinstance(message, str):
        _interrupts(out, message)


def _proposals(out: Out, blocks: Any) -> None:
    uses = [
        b["toolUse"]
        for b in blocks or ()
        if isinstance(b, Mapping) and isinstance(b.get("toolUse"), Mapping)
    ]
    if uses:
        out["tool.proposed"] = tuple(str(u.get("name", "")) for u in uses)
        out["tool.proposed_ids"] = tuple(str(u.get("toolUseId", "")) for u in uses)
        out["tool.proposed_args"] = tuple(args_digest(u.get("input")) or "" for u in uses)


def _interrupts(out: Out, message: str) -> None:
    """The calls a pause holds for a person (a tool's own question to the user is a handoff)."""
    calls = [
        m.group("call") for m in _INTERRUPT.finditer(message) if m.group("name") != _HANDOFF_TO_USER
    ]
    if calls:
        out["gate.decision"] = tuple("requested" for _ in calls)
        out["gate.call_id"] = tuple(calls)


def _tool_results(text: Any) -> list[tuple[str, str, str]]:
    """(call id, "", outcome) of the `toolResult` blocks in an event's JSON."""
    blocks = parse_json(text) if isinstance(text, str) and '"toolResult"' in text else None
    out: list[tuple[str, str, str]] = []
    for block in blocks if isinstance(blocks, list) else ():
        result = block.get("toolResult") if isinstance(block, Mapping) else None
        if not isinstance(result, Mapping):
            continue
        content = result.get("content")
        texts = " ".join(
            str(part.get("text", "")) for part in content or () if isinstance(part, Mapping)
        )
        outcome = result_outcome(texts) if texts else "ok"
        if texts.startswith(_POLICY_DENIED):
            outcome = "blocked"
        elif outcome not in ("denied", "not_found") and result.get("status") == "error":
            outcome = "error"
        out.append((str(result.get("toolUseId", "")), "", outcome))
    return out


def refine(records: Sequence[SpanRecord], fields: list[dict[str, AttrValue]]) -> None:
    """Calls a hook cancelled, and agents used as tools.

    An error result for a call no tool span ran, and that no pause was holding, was refused
    by a hook before running: a policy intervention ("DENIED:", already `blocked`) or a
    guardrail's `cancel_tool`. A tool span with an agent run inside it is that agent.
    """
    strands = [i for i, r in enumerate(records) if r.span.scope == SCOPE]
    if not strands:
        return
    ran = {fields[i].get("tool.call_id") for i in strands if fields[i].get("span.kind") == "tool"}
    held: set[Any] = set()
    for f in fields:
        calls = f.get("gate.call_id")
        if isinstance(calls, tuple):
            held.update(calls)
    agent_parents = {
        records[i].span.parent_span_id for i in strands if fields[i].get("span.kind") == "agent"
    }
    reported: set[Any] = set()
    for i in sorted(strands, key=lambda i: records[i].span.start_ns):
        f = fields[i]
        if f.get("span.kind") == "tool" and records[i].span.span_id in agent_parents:
            f["tool.type"] = "agent"
        paused = f.get("tool.call_id") in held and f.get(NO_STATUS) is True
        if f.get("span.kind") == "tool" and paused:
            f["tool.outcome"] = "pending"  # the tool paused itself to ask; it did not finish
        ids, outcomes = f.get("tool.result_ids"), f.get("tool.result_outcomes")
        if not isinstance(ids, tuple) or not isinstance(outcomes, tuple):
            continue
        changed = list(outcomes)
        for n, (call, outcome) in enumerate(zip(ids, outcomes, strict=False)):
            if call in ran or call in held:
                continue
            changed[n] = "blocked" if outcome in ("blocked", "error") else outcome
            if call in reported:
                continue  # the same result shown again to a later model call
            reported.add(call)
            if outcome == "blocked":
                f["policy.decision"] = "deny"
                f["policy.name"] = "intervention"
            elif outcome == "error":
                f["guardrail.name"] = "cancel_tool"
                f["guardrail.result"] = "blocked"
        f["tool.result_outcomes"] = tuple(changed)
