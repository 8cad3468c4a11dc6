"""Trace and run rules: aggregates over many spans, evaluated once the spans are together.

Each aggregate returns anchors: the span an exception is about (the call that
crossed a count, the span whose tokens crossed a budget, the tool executed with
no approval before it), with extra summary values (`{count}`, `{sum}`,
`{limit}`, `{missing}`). Evaluation is pure: records and contract fields in,
anchors out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from spansift.model import AttrValue, Fields, SpanRecord
from spansift.rules.operators import key_of, number_of
from spansift.rules.spec import CountSpec, Limit, SumSpec, WithoutSpec

Anchor = tuple[SpanRecord, dict[str, AttrValue]]
Passes = Callable[[Fields, Fields], bool]


@dataclass(frozen=True, slots=True)
class Aggregate:
    """A compiled `count:` / `sum:` / `without:`; `text` reads like the YAML."""

    run: Callable[[Sequence[SpanRecord], Passes, Fields], list[Anchor]]
    text: str


def _limit(limit: Limit, contract: Fields) -> float | None:
    if limit.number is not None:
        return limit.number
    value = number_of(contract.get(limit.field or "")) if limit.field else None
    return float(value) if value is not None else None


def _limit_text(limit: Limit) -> str:
    symbol = ">" if limit.op == "gt" else ">="
    shown = limit.field if limit.field else f"{limit.number:g}"
    return f"{symbol} {shown}"


def _crosses(value: float, limit: Limit, bound: float) -> bool:
    return value > bound if limit.op == "gt" else value >= bound


def _group_key(fields: Fields, by: tuple[str, ...]) -> tuple[str | None, ...]:
    out: list[str | None] = []
    for name in by:
        value = fields.get(name)
        key = key_of(value)
        out.append(key if key is not None or value is None else repr(value))
    return tuple(out)


def compile_count(spec: CountSpec) -> Aggregate:
    def run(records: Sequence[SpanRecord], passes: Passes, contract: Fields) -> list[Anchor]:
        bound = _limit(spec.limit, contract)
        if bound is None:
            return []
        groups: dict[tuple[str | None, ...], list[SpanRecord]] = {}
        for record in records:
            if passes(record.fields, contract):
                groups.setdefault(_group_key(record.fields, spec.by), []).append(record)
        # The anchor is the span whose arrival crossed the limit.
        nth = math.floor(bound) + 1 if spec.limit.op == "gt" else max(1, math.ceil(bound))
        return [
            (group[nth - 1], {"count": len(group), "limit": _shown(bound)})
            for group in groups.values()
            if len(group) >= nth
        ]

    by = f" by {', '.join(spec.by)}" if spec.by else ""
    return Aggregate(run, f"count{by} {_limit_text(spec.limit)}")


def compile_sum(spec: SumSpec) -> Aggregate:
    def run(records: Sequence[SpanRecord], passes: Passes, contract: Fields) -> list[Anchor]:
        bound = _limit(spec.limit, contract)
        if bound is None:
            return []
        taking = [
            (r, value)
            for r in records
            if passes(r.fields, contract)
            and (value := number_of(r.fields.get(spec.field))) is not None
        ]
        # Count each value once: an agent span that aggregates its children's usage is
        # skipped when a descendant carrying the field is counted too.
        ids = {r.span.span_id for r, _ in taking}
        parents = {r.span.span_id: r.span.parent_span_id for r in records}
        aggregating: set[str] = set()
        for span_id in ids:
            parent = parents.get(span_id)
            seen = 0
            while parent is not None and seen < len(parents):
                if parent in ids:
                    aggregating.add(parent)
                parent = parents.get(parent)
                seen += 1
        total = 0.0
        anchor: SpanRecord | None = None
        for record, value in sorted(taking, key=lambda rv: rv[0].span.end_ns):
            if record.span.span_id in aggregating:
                continue
            total += value
            if anchor is None and _crosses(total, spec.limit, bound):
                anchor = record
        if anchor is None:
            return []
        return [(anchor, {"sum": _shown(total), "limit": _shown(bound)})]

    return Aggregate(run, f"sum({spec.field}) {_limit_text(spec.limit)}")


def compile_without(spec: WithoutSpec, other: Passes, other_text: str) -> Aggregate:
    def run(records: Sequence[SpanRecord], passes: Passes, contract: Fields) -> list[Anchor]:
        found: list[Anchor] = []
        others = [r for r in records if other(r.fields, contract)]
        for record in records:
            if not passes(record.fields, contract):
                continue
            missing: list[str] = []
            for mine, theirs in spec.match:
                for value in _values(record.fields.get(mine)):
                    if not any(_matches(record, o, theirs, value, spec.before) for o in others):
                        missing.append(value)
            if missing:
                found.append((record, {"missing": ", ".join(missing)}))
        return found

    pairs = ", ".join(f"{a} = {'|'.join(b)}" for a, b in spec.match)
    before = " before it" if spec.before else ""
    return Aggregate(run, f"without ({other_text}) with {pairs}{before}")


def _values(value: AttrValue | None) -> list[str]:
    items: Iterable[AttrValue] = value if isinstance(value, tuple) else (value,) if value else ()
    return [k for k in (key_of(v) for v in items) if k is not None]


def _matches(
    record: SpanRecord, other: SpanRecord, fields: tuple[str, ...], value: str, before: bool
) -> bool:
    if other.span.span_id == record.span.span_id and other.span.trace_id == record.span.trace_id:
        return False
    if before and other.span.end_ns > record.span.start_ns:
        return False
    return any(value in _values(other.fields.get(field)) for field in fields)


def _shown(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 3)
