"""Running the tests that rules carry: each case's span(s) through one rule.

A case's spans go through normalization and the run model as a finished run (the
traces of a `spans:` case sharing `trace:` labels form one run), then through the
rule. A case passes when the rule's verdict equals `hit`: a span rule hits when it
hits any record, a trace rule any trace, a run rule the run.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from spansift.model import Event, Span, SpanKind, SpanRecord, StatusCode
from spansift.normalize import fields_of
from spansift.rules.compile import CompiledRule
from spansift.rules.contracts import Contracts
from spansift.rules.ruleset import RuleSet
from spansift.rules.spec import CaseSpec, TestSpan

_STATUS = {"ok": StatusCode.OK, "error": StatusCode.ERROR, "unset": StatusCode.UNSET}


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one case: passed, or a one-line reason."""

    rule_id: str
    case: CaseSpec
    passed: bool
    detail: str = ""


def build_span(test: TestSpan, index: int = 0) -> Span:
    """A finished span from an inline test span."""
    return Span(
        trace_id="5" * 32,
        span_id=f"{index + 1:016x}",
        parent_span_id=None,
        name=test.name,
        kind=SpanKind.INTERNAL,
        start_ns=1_700_000_000_000_000_000,
        end_ns=1_700_000_000_250_000_000,
        status=_STATUS[test.status],
        status_message=test.status_message,
        attributes=test.attributes,
        events=tuple(Event(name, 1_700_000_000_100_000_000, attrs) for name, attrs in test.events),
    )


def _trace_spans(tests: Sequence[TestSpan]) -> list[Span]:
    """The spans of a `spans:` case: labels become ids, list order becomes start order."""
    ids = {t.label or f"s{i}": f"{i + 1:016x}" for i, t in enumerate(tests)}
    labels = dict.fromkeys(t.trace for t in tests)
    traces = {label: f"{n + 1:032x}" for n, label in enumerate(labels)}
    out: list[Span] = []
    base = 1_700_000_000_000_000_000
    for i, test in enumerate(tests):
        span = build_span(test, i)
        start = base + i * 10_000_000
        parent = ids.get(test.parent) if test.parent else None
        out.append(
            dataclasses.replace(
                span,
                trace_id=traces[test.trace],
                span_id=ids[test.label or f"s{i}"],
                parent_span_id=parent,
                start_ns=start,
                end_ns=start + 5_000_000,
            )
        )
    # A parent ends after its children, as real traces do.
    ends = {s.span_id: s.end_ns for s in out}
    for span in sorted(out, key=lambda s: -s.start_ns):
        if span.parent_span_id in ends:
            ends[span.parent_span_id] = max(ends[span.parent_span_id], ends[span.span_id] + 1)
    return [dataclasses.replace(s, end_ns=ends[s.span_id]) for s in out]


def case_spans(case: CaseSpec) -> list[Span]:
    """The spans a case runs: its inline span(s), or every span of its OTLP JSON fixture."""
    if case.span is not None:
        return [build_span(case.span)]
    if case.spans:
        return _trace_spans(case.spans)
    if case.fixture is None:
        return []
    # Imported here so the rule language does not depend on the sources package at import time.
    from spansift.sources.otlp_json import spans_from_json  # noqa: PLC0415

    doc = json.loads(Path(case.fixture).read_text(encoding="utf-8"))
    return spans_from_json(doc)


def run_case(ruleset: RuleSet, rule: CompiledRule, case: CaseSpec) -> CaseResult:
    """Run one case; errors (a broken fixture, a failing predicate) fail the case."""
    contracts = case.contracts if case.contracts is not None else ruleset.contracts
    try:
        hit = _hits(rule, case_spans(case), contracts)
    except Exception as exc:  # a case reports its failure; it never stops the run
        return CaseResult(rule.id, case, False, f"error: {type(exc).__name__}: {exc}")
    return _result(rule, case, hit)


def _hits(rule: CompiledRule, spans: list[Span], contracts: Contracts) -> bool:
    """Whether the rule fires on the case's spans, judged as one finished run."""
    # Imported here: the run model imports the contracts module of this package.
    from spansift.runs import resolve  # noqa: PLC0415

    records = [SpanRecord(span, fields_of(span, contracts.signals)) for span in spans]
    resolved = resolve(records, contracts, final=True)
    judge = RuleSet([rule], contracts)
    if rule.spec.scope != "trace":
        return bool(judge.match_records(resolved, rule.spec.scope))
    by_trace: dict[str, list[SpanRecord]] = {}
    for record in resolved:
        by_trace.setdefault(record.span.trace_id, []).append(record)
    return any(judge.match_records(group, "trace") for group in by_trace.values())


def _result(rule: CompiledRule, case: CaseSpec, hit: bool) -> CaseResult:
    if hit == case.hit:
        return CaseResult(rule.id, case, True)
    expected = "hit" if case.hit else "no hit"
    got = "hit" if hit else "no hit"
    return CaseResult(rule.id, case, False, f"expected {expected}, got {got}")


def run_cases(ruleset: RuleSet) -> dict[str, list[CaseResult]]:
    """Every case of every rule (enabled or not), by rule id in load order."""
    return {
        rule.id: [run_case(ruleset, rule, case) for case in rule.spec.tests]
        for rule in ruleset.all_rules
    }
