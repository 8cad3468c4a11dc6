"""Tool calls and approval gates across the records of a trace or run.

A call is proposed by a model turn (`tool.proposed*`), executed by a tool span, and
its result is shown to the model in a later turn (`tool.result_*`). A stack that
records no tool spans at all (the OpenAI client, apps running their own tool loop)
still shows each call's result in the messages; those calls become records of their
own. Where tool spans exist, a result only corrects an outcome (a tool span left OK
whose result was an error) and never stands in for a missing span: a proposal with
no execution is not guessed to be a rejection.

A gate is requested (a gate span, a deferred or interrupted tool call) and decided
later, maybe in another trace of the run: approved, denied, edited, escalated,
expired. An execution of a call that waited at a gate is the approval itself. A
request still open when the run closes is pending. Every gate is reported by one
record: the one holding the decision, else the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from spansift.model import AttrValue, SpanRecord

# "answered": a person replied to a pause without approving or refusing anything.
FINAL = frozenset({"approved", "denied", "edited", "escalated", "expired", "answered"})
EXECUTED = frozenset({"ok", "error", "handled_error"})
APPROVING = frozenset({"approved", "edited"})
Fields = dict[str, AttrValue]
Proposals = dict[str, tuple[int, str, str]]  # call id -> (record index, tool, args digest)


def _seq(value: AttrValue | None) -> tuple[str, ...]:
    if isinstance(value, tuple):
        return tuple("" if v is None else str(v) for v in value)
    return (str(value),) if value not in (None, "") else ()


def _str(value: AttrValue | None) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(slots=True)
class Result:
    """A tool result as the model saw it."""

    call_id: str
    name: str
    outcome: str  # ok, error, denied
    seen_in: int  # index of the first record showing it


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


def _columns(f: Fields | SpanRecord, *names: str) -> list[tuple[str, ...]]:
    """Rows of parallel tuple fields (the first names the length; short ones pad with "")."""
    fields = f.fields if isinstance(f, SpanRecord) else f
    lists = [_seq(fields.get(name)) for name in names]
    return [tuple(c[i] if i < len(c) else "" for c in lists) for i in range(len(lists[0]))]


def results(records: Sequence[SpanRecord]) -> dict[str, Result]:
    """Tool results shown to models, first sighting per call (ids, else name and place)."""
    out: dict[str, Result] = {}
    for index, record in enumerate(records):
        rows = _columns(record, "tool.result_outcomes", "tool.result_ids", "tool.result_names")
        for n, (outcome, call_id, name) in enumerate(rows):
            key = call_id or f"{name}#{n}"
            if key not in out:
                out[key] = Result(call_id, name, outcome, index)
    return out


def proposals(records: Sequence[SpanRecord]) -> Proposals:
    """Proposed calls by call id: (record index, tool name, args digest)."""
    out: Proposals = {}
    for index, record in enumerate(records):
        rows = _columns(record, "tool.proposed", "tool.proposed_ids", "tool.proposed_args")
        for name, call_id, args in rows:
            if call_id and call_id not in out:
                out[call_id] = (index, name, args)
    return out


def correct_outcomes(fields: list[Fields], seen: dict[str, Result]) -> None:
    """A tool span left OK whose result the model saw as an error failed, handled."""
    for f in fields:
        if f.get("span.kind") != "tool" or f.get("tool.outcome") != "ok":
            continue
        call_id = _str(f.get("tool.call_id"))
        result = seen.get(call_id) if call_id else None
        if result is not None and result.outcome == "error":
            f["tool.outcome"] = "handled_error"


def message_calls(
    records: Sequence[SpanRecord], seen: dict[str, Result], proposed: Proposals
) -> list[tuple[int, str, Fields]]:
    """Calls known only from messages, as (anchor record index, item, fields).

    In a run with no tool span at all (a client library instrumented, the app running
    its own tool loop), every result the model was shown is a call that ran. Where the
    stack records tool spans, a call without one did not run; only an error result for it
    is kept: the call failed before it could run (arguments the tool refused).
    """
    tool_spans = [r for r in records if r.fields.get("span.kind") == "tool"]
    executed = {_str(r.fields.get("tool.call_id")) for r in tool_spans} - {None}
    gated = {
        call
        for r in records
        if r.fields.get("gate.decision") is not None
        for call in (*_seq(r.fields.get("gate.call_id")), *_seq(r.fields.get("tool.call_id")))
        if call
    }
    unknown = {n for r in records for n in _seq(r.fields.get("tool.unknown"))}
    out: list[tuple[int, str, Fields]] = []
    for key, result in seen.items():
        if result.outcome == "denied" or result.call_id in executed or result.call_id in gated:
            continue  # a refused call did not run; the gate reports it
        if tool_spans and result.outcome not in ("error", "not_found"):
            continue
        anchor, name, args = proposed.get(result.call_id, (result.seen_in, result.name, ""))
        name = name or result.name
        if not name or (name in unknown and result.outcome != "not_found"):
            continue  # a tool that does not exist never ran; unknown_tool reports it
        outcome = {"error": "handled_error", "not_found": "not_found"}.get(result.outcome, "ok")
        extra: Fields = {"span.kind": "tool", "tool.name": name, "tool.outcome": outcome}
        if result.call_id:
            extra["tool.call_id"] = result.call_id
        if args:
            extra["tool.args_digest"] = args
        target = _handoff_target(name)
        if target is not None:
            extra["tool.type"] = "handoff"
            extra["handoff.to"] = target
        out.append((anchor, f"call:{key}", extra))
    return out


def _handoff_target(tool: str) -> str | None:
    for prefix in ("transfer_to_", "handoff_to_"):
        if tool.startswith(prefix) and len(tool) > len(prefix):
            return tool[len(prefix) :]
    return None


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
                gate = next((g for g in open_gates if g.tool == name and g.call_id is None), None)
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
