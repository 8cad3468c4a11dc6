"""Who acted: the agent in effect for every record, and the workflow of every trace.

A span rarely names its agent (OpenInference and GenAI tool spans do not), so the
agent in effect is, in order: the span's own `agent.name`; the target of the last
handoff that ended before it within the same agent's scope (for stacks where the
new agent gets no span of its own); the nearest ancestor that names an agent; and,
when the trace names exactly one agent, that one.

A trace's workflow is the one it names (a `workflow` field, root first), else the
name of a root agent span that names no agent (the Agents SDK's trace), else the
contract's `workflow:` of the first agent in effect, else `service.name`.
"""

from __future__ import annotations

from collections.abc import Sequence

from spansift.model import SpanRecord
from spansift.rules.contracts import Contracts

Key = tuple[str, str]  # (trace id, span id)
_MAX_DEPTH = 10_000  # a malformed parent chain (a cycle) must not hang the pipeline


def key_of(record: SpanRecord) -> Key:
    return record.span.trace_id, record.span.span_id


def _name(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def agents_in_effect(records: Sequence[SpanRecord]) -> dict[Key, str | None]:
    """The agent in effect for each record (by trace and span id)."""
    by_key = {key_of(r): r for r in records}
    own = {k: n for k, r in by_key.items() if (n := _name(r.fields.get("agent.name")))}
    scope: dict[Key, Key | None] = {}

    def scope_of(start: Key | None) -> Key | None:
        """The nearest ancestor-or-self that names an agent."""
        path: list[Key] = []
        current = start
        while current is not None and current not in scope and len(path) < _MAX_DEPTH:
            if current in own:
                scope[current] = current
                break
            path.append(current)
            record = by_key.get(current)
            parent = record.span.parent_span_id if record is not None else None
            current = (current[0], parent) if parent else None
        found = scope.get(current) if current is not None else None
        for step in path:
            scope[step] = found
        return found

    # Handoffs by the scope they happen in: spans of that scope after a handoff act for
    # its target until another handoff (when the target has no agent span of its own).
    handoffs: dict[Key | None, list[tuple[int, str]]] = {}
    for k, record in by_key.items():
        target = _name(record.fields.get("handoff.to"))
        transfers = record.fields.get("span.kind") == "handoff" or (
            record.fields.get("tool.type") == "handoff"
        )
        if target is not None and transfers:  # a delegation returns; a transfer does not
            parent = record.span.parent_span_id
            where = scope_of((k[0], parent)) if parent else None
            handoffs.setdefault(where, []).append((record.span.end_ns, target))
    for items in handoffs.values():
        items.sort()

    names_by_trace: dict[str, set[str]] = {}
    for (trace, _), name in own.items():
        names_by_trace.setdefault(trace, set()).add(name)

    out: dict[Key, str | None] = {}
    for k, record in by_key.items():
        if k in own:
            out[k] = own[k]
            continue
        where = scope_of(k)
        agent = own.get(where) if where is not None else None
        for end_ns, target in handoffs.get(where, ()):
            if end_ns > record.span.start_ns:
                break
            agent = target
        if agent is None:
            names = names_by_trace.get(k[0], set())
            if len(names) == 1:
                agent = next(iter(names))
        out[k] = agent
    return out


def workflows(
    records: Sequence[SpanRecord], agents: dict[Key, str | None], contracts: Contracts
) -> dict[str, str | None]:
    """The workflow of each trace among the records."""
    by_trace: dict[str, list[SpanRecord]] = {}
    for record in records:
        by_trace.setdefault(record.span.trace_id, []).append(record)
    out: dict[str, str | None] = {}
    for trace, members in by_trace.items():
        ordered = sorted(
            members, key=lambda r: (r.span.parent_span_id is not None, r.span.start_ns)
        )
        found = next((n for r in ordered if (n := _name(r.fields.get("workflow")))), None)
        root = ordered[0]
        if (
            found is None
            and root.span.parent_span_id is None
            and root.fields.get("span.kind") == "agent"
            and _name(root.fields.get("agent.name")) is None
        ):
            found = root.span.name or None
        if found is None and contracts:
            for record in sorted(members, key=lambda r: r.span.start_ns):
                agent = agents.get(key_of(record))
                contract = contracts.for_agent(agent) if agent is not None else None
                if contract is not None and contract.workflow:
                    found = contract.workflow
                    break
        if found is None:
            found = next((n for r in ordered if (n := _name(r.fields.get("service.name")))), None)
        out[trace] = found
    return out
