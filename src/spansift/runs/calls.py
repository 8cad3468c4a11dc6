"""Tool calls across the records of a trace or run.

A call is proposed by a model turn (`tool.proposed*`), executed by a tool span, and
its result is shown to the model in a later turn (`tool.result_*`). A stack that
records no tool spans at all (the OpenAI client, apps running their own tool loop)
still shows each call's result in the messages; those calls become records of their
own. Where tool spans exist, a result only corrects an outcome (a tool span left OK
whose result was an error) and never stands in for a missing span: a proposal with
no execution is not guessed to be a rejection.

Gates (approvals) are in `gates`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spansift.model import AttrValue, SpanRecord

EXECUTED = frozenset({"ok", "error", "handled_error"})
Fields = dict[str, AttrValue]
Proposals = dict[str, tuple[int, str, str]]  # call id -> (record index, tool, args digest)
Types = dict[str, str]  # call id -> tool.type, where the model turn says (a delegation tool)


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


def _columns(f: Fields | SpanRecord, *names: str) -> list[tuple[str, ...]]:
    """Rows of parallel tuple fields (the first names the length; short ones pad with "")."""
    fields = f.fields if isinstance(f, SpanRecord) else f
    first = _seq(fields.get(names[0]))
    if not first:
        return []  # most records: nothing to read the other names for
    lists = [first, *(_seq(fields.get(name)) for name in names[1:])]
    return [tuple(c[i] if i < len(c) else "" for c in lists) for i in range(len(first))]


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


def proposed_types(records: Sequence[SpanRecord]) -> Types:
    """The tool type of proposed calls whose normalizer knew it, by call id."""
    out: Types = {}
    for record in records:
        for call_id, kind in _columns(record, "tool.proposed_ids", "tool.proposed_types"):
            if call_id and kind:
                out.setdefault(call_id, kind)
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
    records: Sequence[SpanRecord],
    seen: dict[str, Result],
    proposed: Proposals,
    types: Types | None = None,
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
    types = types or {}
    out: list[tuple[int, str, Fields]] = []
    for key, result in seen.items():
        if result.outcome in ("denied", "blocked", "limited"):
            continue  # a refused call did not run; its gate, guardrail or limit reports it
        if result.call_id in executed or result.call_id in gated:
            continue
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
        kind = types.get(result.call_id)
        if kind:
            extra["tool.type"] = kind
        out.append((anchor, f"call:{key}", extra))
    return out


def _handoff_target(tool: str) -> str | None:
    for prefix in ("transfer_to_", "handoff_to_"):
        if tool.startswith(prefix) and len(tool) > len(prefix):
            return tool[len(prefix) :]
    return None


def limits(seen: dict[str, Result]) -> list[tuple[int, str, Fields]]:
    """A call refused because a tool-call limit was reached: the run hit that limit, once."""
    first = min((r.seen_in for r in seen.values() if r.outcome == "limited"), default=None)
    if first is None:
        return []
    return [(first, "limit:tool_calls", {"span.kind": "other", "limit.exceeded": "tool_calls"})]
