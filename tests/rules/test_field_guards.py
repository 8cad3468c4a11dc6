"""The index of span rules (by kind and guard fields) never skips a span a rule must hit."""

from __future__ import annotations

from typing import Any

import pytest

from spansift.model import SpanRecord
from spansift.normalize import fields_of
from spansift.rules import RuleSet, load_ruleset
from spansift.rules._guard import MAX_SHAPES, RuleIndex
from spansift.rules.cases import case_spans
from spansift.runs import resolve

PACK = load_ruleset()


def _hit_cases() -> list[Any]:
    out = []
    for rule in PACK.all_rules:
        for n, case in enumerate(rule.spec.tests):
            if case.hit:
                out.append(pytest.param(rule, case, id=f"{rule.id}-{n}"))
    return out


@pytest.mark.parametrize(
    ("rule", "case"), [p for p in _hit_cases() if p.values[0].spec.scope == "span"]
)
def test_field_guards_never_skip_a_hit_case(rule: Any, case: Any) -> None:
    """Through `RuleSet.match` (guards included) every span-rule hit case still hits."""
    contracts = case.contracts or PACK.contracts
    ruleset = RuleSet(PACK.all_rules, contracts)
    records = [SpanRecord(span, fields_of(span)) for span in case_spans(case)]
    found = {
        m.rule_id for r in resolve(records, contracts, final=True) for m in ruleset.match(r.fields)
    }
    assert rule.id in found


def _case_records() -> list[SpanRecord]:
    out = []
    for rule in PACK.all_rules:
        for case in rule.spec.tests:
            contracts = case.contracts or PACK.contracts
            records = [SpanRecord(span, fields_of(span)) for span in case_spans(case)]
            out += resolve(records, contracts, final=True)
    return out


def test_the_index_leaves_out_only_rules_that_cannot_hit() -> None:
    """Every span rule the index leaves out for a record's shape is false on that record."""
    index = RuleIndex(PACK.span_rules)
    for record in _case_records():
        chosen = index.candidates(record.fields)
        assert list(chosen) == [r for r in PACK.span_rules if r in chosen]  # load order
        for rule in PACK.span_rules:
            if rule not in chosen:
                assert not rule.condition.test(record.fields, {}), rule.id


def test_the_index_remembers_a_bounded_number_of_shapes() -> None:
    """Odd span kinds (any text) cannot grow the memory of shapes without bound."""
    index = RuleIndex(PACK.span_rules)
    plain = index.candidates({"span.kind": "tool", "tool.outcome": "error"})
    for n in range(MAX_SHAPES + 10):
        index.candidates({"span.kind": f"odd-{n}"})
    assert len(index._shapes) <= MAX_SHAPES
    assert index.candidates({"span.kind": "tool", "tool.outcome": "error"}) == plain
