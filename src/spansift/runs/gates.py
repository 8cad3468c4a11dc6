"""Approval gates across the records of a trace or run.

A gate is requested (a gate span, a deferred or interrupted tool call) and decided
later, maybe in another trace of the run: approved, denied, edited, escalated,
expired. An execution of a call that waited at a gate is the approval itself (with
other arguments than proposed: an edit). A request still open when the run closes is
pending. Every gate is reported by one record: the one holding the decision, else the
request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from spansift.model import SpanRecord
from spansift.runs.calls import EXECUTED, Fields, Proposals, Result, _str

FINAL = frozenset({"approved", "denied", "edited", "escalated", "expired", "answered"})
APPROVING = frozenset({"approved", "edited"})


@dataclass(slots=True)
class Gate:
    """One approval request (or a decision with no request) and what became of it."""

    tool: str | None
    call_id: str | None
    request: int | None = None  # record index
    decision: str | None = None
    decided_by: int | None = None  # record index of the decision, when it is a record
    decided_at: int = 0  # ns
    duplicates: list[int] = field(default_factory=list)


def denials(seen: dict[str, Result], proposed: Proposals) -> list[tuple[int, str, Fields]]:
    """A refusal the model was told about ("not approved", "declined by the operator") is a
    decision of its own, anchored where the model saw it: (record index, item, fields)."""
    out: list[tuple[int, str, Fields]] = []
    for key, result in seen.items():
        if result.outcome != "denied":
            continue
        name = proposed.get(result.call_id, (0, result.name, ""))[1] or result.name
        extra: Fields = {"span.kind": "gate", "gate.decision": "denied"}
        if name:
            extra["gate.tool"] = name
        if result.call_id:
            extra["gate.call_id"] = result.call_id
        out.append((result.seen_in, f"denial:{key}", extra))
    return out


def gates(
    records: Sequence[SpanRecord],
    fields: list[Fields],
    seen: dict[str, Result],
    proposed: Proposals | None = None,
) -> list[Gate]:
    """Every gate of the records, requests matched to their decisions in time order."""
    order = sorted(range(len(records)), key=lambda i: records[i].span.end_ns)
    found: list[Gate] = []
    by_call: dict[str, Gate] = {}
    by_id: dict[str, Gate] = {}
    open_gates: list[Gate] = []

    def match(tool: str | None, call_id: str | None, gate_id: str | None) -> Gate | None:
        if call_id and call_id in by_call:
            return by_call[call_id]
        if gate_id and gate_id in by_id:
            return by_id[gate_id]
        for gate in open_gates:
            if tool is None or gate.tool is None or gate.tool == tool:
                return gate
        return None

    for index in order:
        f = fields[index]
        decision = _str(f.get("gate.decision"))
        if decision is None and f.get("span.kind") != "tool":
            continue  # neither a gate nor an execution: most records
        call_id = _str(f.get("gate.call_id")) or _str(f.get("tool.call_id"))
        tool = _str(f.get("gate.tool"))  # a gate's name says nothing about the tool it holds
        gate_id = _str(f.get("gate.id"))
        end = records[index].span.end_ns
        if decision == "requested":
            gate = by_call.get(call_id) if call_id else None
            if gate is None and gate_id:
                gate = by_id.get(gate_id)
            if gate is not None:
                if gate.request != index:
                    gate.duplicates.append(index)  # the same pause, seen again further up
                continue
            gate = Gate(tool, call_id, request=index)
            found.append(gate)
            open_gates.append(gate)
            if call_id:
                by_call[call_id] = gate
            if gate_id:
                by_id[gate_id] = gate
            continue
        if decision in FINAL:
            gate = match(tool, call_id, gate_id)
            if gate is not None and gate.decision is not None:
                if gate.decision == decision:
                    gate.duplicates.append(index)
                    continue
                gate = None  # a new decision about the same tool: a gate of its own
            if gate is None:
                gate = Gate(tool, call_id)
                found.append(gate)
                if call_id:
                    by_call[call_id] = gate
            # Known when its span started: a decision read from a resumed run's input
            # precedes everything that run does.
            start = records[index].span.start_ns
            gate.decision, gate.decided_by, gate.decided_at = decision, index, start
            if gate in open_gates:
                open_gates.remove(gate)
            continue
        # An execution of a call that waited at a gate: it was approved.
        if f.get("span.kind") == "tool" and f.get("tool.outcome") in EXECUTED:
            name = _str(f.get("tool.name"))
            gate = by_call.get(call_id) if call_id else None
            if gate is None:
                # An execution that names no call (or a request that names none) pairs by tool.
                gate = next(
                    (
                        g
                        for g in open_gates
                        if g.tool == name and (g.call_id is None or not call_id)
                    ),
                    None,
                )
            if gate is not None and gate.decision is None:
                # Run with other arguments than the model proposed: a person edited the call.
                before = (proposed or {}).get(call_id or "", (0, "", ""))[2]
                after = _str(f.get("tool.args_digest"))
                edited = bool(
                    before.startswith("o") and after and after.startswith("o") and before != after
                )
                gate.decision, gate.decided_at = ("edited" if edited else "approved"), end
                if edited:
                    gate.decided_by = index
                    f["gate.decision"] = "edited"
                open_gates.remove(gate)
    # A result the model was shown for a call that waited at a gate and never ran (the
    # resumed run's input: a rejection message, ToolDenied) means the request was refused.
    executed = {
        call_id
        for f in fields
        if f.get("span.kind") == "tool"
        and f.get("tool.outcome") in EXECUTED
        and (call_id := _str(f.get("tool.call_id")))
    }
    for result in seen.values():
        gate = by_call.get(result.call_id) if result.call_id else None
        if gate is None or gate.decision is not None or result.call_id in executed:
            continue
        shown = records[result.seen_in].span
        if gate.request is not None and shown.end_ns > records[gate.request].span.end_ns:
            gate.decision, gate.decided_at = "denied", shown.end_ns
            if gate in open_gates:
                open_gates.remove(gate)
    _resumed_without_running(records, fields, open_gates, executed)
    return found


def _resumed_without_running(
    records: Sequence[SpanRecord], fields: list[Fields], waiting: list[Gate], executed: set[str]
) -> None:
    """A run resumed after a request, and the call never ran: the request was refused.

    Frameworks that pause for approval resume the same agent once the decision is in
    (a new agent span of the same session); an approved call then runs, a refused one
    does not (the Agents SDK and LangGraph record no span for a rejected call).
    """
    for gate in list(waiting):
        if gate.request is None or (gate.call_id is None and gate.tool is None):
            continue
        asked = records[gate.request].span
        agent = fields[gate.request].get("agent.name")
        resumed = next(
            (
                r.span
                for i, r in enumerate(records)
                if fields[i].get("span.kind") == "agent"
                and r.span.start_ns >= asked.end_ns
                and (agent is None or fields[i].get("agent.name") == agent)
            ),
            None,
        )
        if resumed is None:
            continue
        ran = (
            gate.call_id in executed
            if gate.call_id
            else any(
                f.get("span.kind") == "tool"
                and f.get("tool.outcome") in EXECUTED
                and f.get("tool.name") == gate.tool
                and records[i].span.start_ns >= asked.end_ns
                for i, f in enumerate(fields)
            )
        )
        if not ran:
            gate.decision, gate.decided_at = "denied", resumed.end_ns
            waiting.remove(gate)


def apply_gates(gate_list: list[Gate], fields: list[Fields], *, final: bool) -> None:
    """Set each gate's outcome on its one reporting record; silence the others."""
    for gate in gate_list:
        for index in gate.duplicates:
            fields[index].pop("gate.decision", None)
        if gate.decided_by is not None:
            reporter = fields[gate.decided_by]
            if gate.tool is not None:
                reporter.setdefault("gate.tool", gate.tool)
            if gate.request is not None:
                fields[gate.request]["gate.decision"] = "requested"
            continue
        if gate.request is None:
            continue
        request = fields[gate.request]
        if gate.decision is not None:
            # Decided without a record of its own: an execution (approved) or a denial
            # the model was shown; the request reports it.
            request["gate.decision"] = gate.decision
            if gate.decision == "denied":
                request["tool.outcome"] = "denied"
        elif final:
            request["gate.decision"] = "pending"


def approvals(records: Sequence[SpanRecord], fields: list[Fields], gate_list: list[Gate]) -> None:
    """`tool.approval` on every execution: approved (or edited) before it, else none.

    An approval covers a later execution of the same call id, else of the same tool;
    one that names neither covers every execution after it. However long before.
    """
    approvals_by_call: dict[str, int] = {}
    approvals_by_tool: dict[str, list[int]] = {}
    unnamed: list[int] = []
    for gate in gate_list:
        if gate.decision not in APPROVING:
            continue
        if gate.call_id:
            approvals_by_call[gate.call_id] = gate.decided_at
        if gate.tool:
            approvals_by_tool.setdefault(gate.tool, []).append(gate.decided_at)
        elif not gate.call_id:
            unnamed.append(gate.decided_at)
    first_unnamed = min(unnamed, default=None)
    executions = sorted(
        (i for i, f in enumerate(fields)
         if f.get("span.kind") == "tool" and f.get("tool.outcome") in EXECUTED),
        key=lambda i: records[i].span.start_ns,
    )  # fmt: skip
    for index in executions:
        f = fields[index]
        end = records[index].span.end_ns
        call_id = _str(f.get("tool.call_id"))
        name = _str(f.get("tool.name"))
        approved = (call_id is not None and approvals_by_call.get(call_id, end + 1) <= end) or any(
            at <= end for at in approvals_by_tool.get(name or "", ())
        )
        if first_unnamed is not None and first_unnamed <= end:
            approved = True
        if approved:
            f["tool.approval"] = "approved"
        elif f.get("tool.approval") != "unknown":  # a normalizer could not see gates here
            f["tool.approval"] = "none"
