"""The run model: the records of a trace or run, attributed and resolved, as rules see them.

`resolve` is pure: span records in (canonical fields from normalization), records
out, in start order, with
- `agent.name` the agent in effect and `workflow` the trace's (see `attribution`);
- tool outcomes corrected by what the model was shown, calls seen only in messages
  as records of their own, gates matched to their decisions, `tool.approval` on
  every execution (see `calls`);
- handoffs marked `handoff.human` when they reach a person (the contract's
  `handoff_to_human`, or a target named as one);
- a signal carried up the tree by an error (a limit, a tripwire, a missing tool)
  kept only on the deepest span that shows it, and an unknown tool reported once.

`final` says the run is over: a gate still waiting is then `pending`, and each execution
gets `tool.approval` (whether an approval came before it, in the whole run).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from spansift.model import AttrValue, SpanRecord
from spansift.normalize import refine
from spansift.rules.contracts import Contracts
from spansift.runs import calls, gates
from spansift.runs.attribution import agents_in_effect, key_of, workflows

Fields = dict[str, AttrValue]
# Fields a record made from a message copies from the span it is anchored on.
_CONTEXT = ("agent.name", "workflow", "session.id", "user.id", "service.name", "run.id", "step")
# Signals an error carries up the tree: reported where they happened, not at every parent.
_BUBBLING = ("limit.exceeded", "guardrail.result", "tool.unknown")
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_HUMAN_WORDS = frozenset({"human", "humans", "person", "people", "operator", "operators"})
_HANDOFF_VERBS = frozenset({"escalate", "transfer", "handoff", "hand", "route", "forward"})
_USERS = frozenset({"user", "customer"})


def resolve(
    records: Sequence[SpanRecord], contracts: Contracts, *, final: bool
) -> list[SpanRecord]:
    """The records rules evaluate: every span's, attributed and resolved, plus message calls."""
    base = sorted(
        (r for r in records if not r.item), key=lambda r: (r.span.start_ns, r.span.span_id)
    )
    fields: list[Fields] = [dict(r.fields) for r in base]
    refined = refine(base, fields)
    base = [SpanRecord(r.span, f, r.item) for r, f in zip(base, fields, strict=True)]
    agents = agents_in_effect(base)
    flows = workflows(base, agents, contracts)
    for record, f in zip(base, fields, strict=True):
        agent = agents.get(key_of(record))
        if agent is not None:
            f["agent.name"] = agent
        workflow = flows.get(record.span.trace_id)
        if workflow is not None:
            f["workflow"] = workflow
    _drop_bubbled(base, fields)

    seen = calls.results(base)
    proposed = calls.proposals(base)
    calls.correct_outcomes(fields, seen)
    out = list(base)
    items = [""] * len(base)
    made = [
        *refined,
        *calls.message_calls(base, seen, proposed, calls.proposed_types(base)),
        *gates.denials(seen, proposed),
        *calls.limits(seen),
        *_split_decisions(fields[: len(base)]),
    ]
    for anchor, item, extra in made:
        f = {k: fields[anchor][k] for k in _CONTEXT if k in fields[anchor]}
        f["span.name"] = base[anchor].span.name
        f["span.kind"] = "gate"
        f.update(extra)
        out.append(base[anchor])
        fields.append(f)
        items.append(item)

    for f in fields:
        _handoff(f, contracts)
    _no_gates_for_people(fields, contracts)
    _gates_inside_tools(out, fields)
    gate_list = gates.gates(out, fields, seen, proposed)
    gates.apply_gates(gate_list, fields, final=final)
    if final:
        gates.approvals(out, fields, gate_list)
    _report_unknown_once(fields)
    return [
        SpanRecord(record.span, f, item) for record, f, item in zip(out, fields, items, strict=True)
    ]


_GATE_LISTS = (
    "gate.decision", "gate.tool", "gate.call_id", "gate.id", "gate.approver", "gate.reason",
)  # fmt: skip


def _split_decisions(fields: list[Fields]) -> list[tuple[int, str, Fields]]:
    """One record per decision where a span carries several (a resume answering many calls).

    Normalizers give parallel tuples (`gate.decision`, `gate.tool`, `gate.call_id`, ...);
    the span keeps none of them, each decision becomes a record of its own.
    """
    out: list[tuple[int, str, Fields]] = []
    for index, f in enumerate(fields):
        decisions = f.get("gate.decision")
        if not isinstance(decisions, tuple):
            continue
        lists = {name: f.pop(name, None) for name in _GATE_LISTS}
        for n, decision in enumerate(decisions):
            extra: Fields = {"gate.decision": decision}
            for name, values in lists.items():
                if (
                    name != "gate.decision"
                    and isinstance(values, tuple)
                    and n < len(values)
                    and values[n] not in (None, "")
                ):
                    extra[name] = values[n]
            out.append((index, f"decision:{n}", extra))
    return out


def _drop_bubbled(records: Sequence[SpanRecord], fields: list[Fields]) -> None:
    index = {key_of(r): i for i, r in enumerate(records)}
    drop: dict[int, set[str]] = {}
    for i, record in enumerate(records):
        parent_id = record.span.parent_span_id
        parent = index.get((record.span.trace_id, parent_id)) if parent_id else None
        if parent is None:
            continue
        for name in _BUBBLING:
            value = fields[i].get(name)
            if value is not None and value != "passed" and fields[parent].get(name) == value:
                drop.setdefault(parent, set()).add(name)
    for i, names in drop.items():
        for name in names:
            fields[i].pop(name, None)
            if name == "guardrail.result":
                fields[i].pop("guardrail.triggered", None)


def _words(name: str) -> set[str]:
    return {w.lower() for w in _WORDS.findall(name)}


@functools.lru_cache(maxsize=4096)  # few distinct names, each looked at once per record
def looks_human(target: str, *, tool: bool) -> bool:
    """Whether a handoff target (an agent) or a tool's name says it reaches a person.

    An agent named for a person (`human_operator`, or just `user`) does; a tool must also say
    it hands over (`escalate_to_human`, `handoff_to_user`), since `ask_human` only asks.
    """
    words = _words(target)
    if not tool:
        return bool(words & _HUMAN_WORDS) or target.strip().lower() in _USERS
    return bool(words & (_HUMAN_WORDS | _USERS)) and bool(words & _HANDOFF_VERBS)


def _handoff(f: Fields, contracts: Contracts) -> None:
    agent = f.get("agent.name")
    by = agent if isinstance(agent, str) else None
    target = f.get("handoff.to")
    if isinstance(target, str) and target:
        if by is not None and by != target:
            f.setdefault("handoff.from", by)
        human = contracts.hands_to_human(target, by) or looks_human(target, tool=False)
        f["handoff.human"] = human
        return
    tool = f.get("tool.name")
    if (
        f.get("span.kind") == "tool"
        and isinstance(tool, str)
        and f.get("tool.outcome") in calls.EXECUTED
        and (contracts.hands_to_human(tool, by) or looks_human(tool, tool=True))
    ):
        f["handoff.to"] = tool
        f["handoff.human"] = True
        if by is not None:
            f.setdefault("handoff.from", by)


def _gates_inside_tools(records: Sequence[SpanRecord], fields: list[Fields]) -> None:
    """A gate inside a tool's span is that call asking for approval: it is about that call,
    and a refusal there means the tool did not do its work."""
    tools = {
        key_of(r): i
        for i, r in enumerate(records)
        if not r.item and fields[i].get("span.kind") == "tool"
    }
    parents = {key_of(r): r.span.parent_span_id for r in records if not r.item}
    for index, record in enumerate(records):
        f = fields[index]
        if record.item or f.get("gate.decision") is None or f.get("span.kind") == "tool":
            continue
        up, steps = record.span.parent_span_id, 0
        while up and steps < 50:
            tool = tools.get((record.span.trace_id, up))
            if tool is not None:
                t = fields[tool]
                for mine, theirs in (("gate.tool", "tool.name"), ("gate.call_id", "tool.call_id")):
                    value = t.get(theirs)
                    if isinstance(value, str):
                        f.setdefault(mine, value)
                if f.get("gate.decision") == "denied":
                    t["tool.outcome"] = "denied"
                break
            up, steps = parents.get((record.span.trace_id, up)), steps + 1


def _no_gates_for_people(fields: list[Fields], contracts: Contracts) -> None:
    """A pause while a person holds the conversation is their turn, not an approval request."""
    people = {
        f["handoff.to"] for f in fields if f.get("handoff.human") is True and "handoff.to" in f
    } | set(contracts.handoff_to_human)
    for f in fields:
        agent = f.get("agent.name")
        if f.get("gate.decision") == "requested" and (
            agent in people or (isinstance(agent, str) and contracts.hands_to_human(agent, None))
        ):
            del f["gate.decision"]


def _report_unknown_once(fields: list[Fields]) -> None:
    """A missing tool the framework reported on its tool span is not reported again."""
    missing = {f.get("tool.name") for f in fields if f.get("tool.outcome") == "not_found"} - {None}
    if not missing:
        return
    for f in fields:
        unknown = f.get("tool.unknown")
        if f.get("span.kind") == "tool" or not isinstance(unknown, tuple):
            continue
        rest = tuple(n for n in unknown if n not in missing)
        if rest:
            f["tool.unknown"] = rest
        else:
            del f["tool.unknown"]
