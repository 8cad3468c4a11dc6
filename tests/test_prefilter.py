"""The OTLP fast path's prefilter never hides a span that a rule would hit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spansift.model import AttrValue, SpanRecord
from spansift.normalize import FIELD_NEEDS, canonical_fields, fields_of
from spansift.pipeline import Pipeline
from spansift.rules import RuleSet, load_ruleset
from spansift.rules.cases import case_spans
from spansift.runs import resolve
from spansift.sources.files import iter_file
from spansift.sources.otlp_encode import request_from_spans
from spansift.sources.otlp_proto import admits, spans_from_request

ROOT = Path(__file__).parents[1]


PACK = load_ruleset()


def _hit_cases() -> list[Any]:
    out = []
    for rule in PACK.all_rules:
        for n, case in enumerate(rule.spec.tests):
            if case.hit:
                out.append(pytest.param(rule, case, id=f"{rule.id}-{n}"))
    return out


@pytest.mark.parametrize(("rule", "case"), _hit_cases())
def test_prefilter_admits_every_hit_case(rule: Any, case: Any) -> None:
    """Every span a default-pack rule must hit passes that pack's prefilter."""
    ruleset = RuleSet(PACK.all_rules, case.contracts or PACK.contracts)
    for span in case_spans(case):
        if not ruleset.match(fields_of(span)):
            continue
        prefilter = ruleset.prefilter
        proto = request_from_spans([span]).resource_spans[0].scope_spans[0].spans[0]
        assert prefilter is None or admits(prefilter, proto), rule.id


def test_fast_path_and_full_path_find_the_same_hits() -> None:
    """Protobuf through the prefiltered fast path gives the hits of fully built spans."""
    for path in (ROOT / "tests" / "fixtures" / "otlp").glob("agent_trace.pb*"):
        for chunk in iter_file(path):
            assert chunk.request is not None
            fast = Pipeline(PACK).request(chunk.request)
            full = Pipeline(PACK).spans(spans_from_request(chunk.request))
            assert [(h.match, h.span) for h in fast] == [(h.match, h.span) for h in full]


@pytest.mark.parametrize("field", sorted(FIELD_NEEDS))
def test_field_absent_without_its_atoms(field: str) -> None:
    """A span carrying none of a field's atoms never gets that canonical field."""
    needs = FIELD_NEEDS[field]
    keys = {n[4:] for n in needs if n.startswith("key:")}
    attributes: dict[str, AttrValue] = {
        key: "x"
        for key in (
            "gen_ai.operation.name",
            "openinference.span.kind",
            "gen_ai.agent.name",
            "gen_ai.tool.name",
            "error.type",
            "spansift.gate.decision",
            "spansift.human.decision",
            "spansift.handoff.to",
            "gen_ai.usage.input_tokens",
            "session.id",
            "gen_ai.output.messages",
            "gen_ai.input.messages",
            "metadata",
            "pydantic_ai.tool.deferral.name",
            "traceloop.span.kind",
            "traceloop.entity.name",
            "spansift.gate.name",
            "annotations.0.annotation.label",
        )
        if key not in keys
    }
    fields = canonical_fields(
        name="step" if "name" not in needs else "",
        status=0,  # type: ignore[arg-type]
        status_message="",
        attributes=attributes,
        resource={},
        events=(),
        duration_ns=0,
    )
    assert field not in fields or "name" in needs


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
