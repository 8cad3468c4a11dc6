"""The rule set's per-rule field guards never skip a span a rule must hit."""

from __future__ import annotations

from typing import Any

import pytest

from spansift.model import SpanRecord
from spansift.normalize import fields_of
from spansift.rules import RuleSet, load_ruleset
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
