"""Running the tests that rules carry: each case's span(s) through one rule.

A case passes when the rule's verdict equals `hit`. For a fixture (an OTLP
JSON file) the rule hits when it hits any span in the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from spansift.model import AttrValue, Event, Span, SpanKind, StatusCode
from spansift.normalize import fields_of
from spansift.rules.compile import CompiledRule
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


def case_spans(case: CaseSpec) -> list[Span]:
    """The spans a case runs: its inline span, or every span of its OTLP JSON fixture."""
    if case.span is not None:
        return [build_span(case.span)]
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
        hit = False
        for span in case_spans(case):
            fields: Mapping[str, AttrValue] = fields_of(span)
            _, contract = contracts.lookup(fields.get("agent.name"))
            if rule.hits(fields, contract):
                hit = True
                break
    except Exception as exc:  # a case reports its failure; it never stops the run
        return CaseResult(rule.id, case, False, f"error: {type(exc).__name__}: {exc}")
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
