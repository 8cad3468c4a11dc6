"""The default pack in rules/: every rule is tested both ways, and all its cases pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from spansift.rules import RuleSet, default_rules_dir, load_ruleset
from spansift.rules.cases import run_cases

REPO_RULES = Path(__file__).resolve().parents[2] / "rules"
SPAN_TYPES = {
    "wrong_tool", "unknown_tool", "tool_error", "approval_denied", "approval_escalated",
    "guardrail_tripped", "policy_violation", "handoff_to_human", "human_override", "rollback",
}  # fmt: skip


@pytest.fixture(scope="module")
def pack() -> RuleSet:
    return load_ruleset([REPO_RULES])


def test_default_rules_dir_is_the_repository_pack() -> None:
    """In a source checkout the default pack is the top-level rules/ folder."""
    assert default_rules_dir().resolve() in {
        REPO_RULES,
        REPO_RULES.parent / "src/spansift/default_rules",
    }
    assert len(load_ruleset()) == len(load_ruleset([REPO_RULES]))


def test_pack_covers_every_span_level_exception_type(pack: RuleSet) -> None:
    """The default pack has a rule for each span-level exception type."""
    assert {r.spec.exception.value for r in pack.rules} >= SPAN_TYPES


def test_every_rule_has_a_hit_and_a_no_hit_case(pack: RuleSet) -> None:
    """No rule in rules/ ships without at least one case that hits and one that does not."""
    lacking = [
        r.id for r in pack.all_rules if not {True, False} <= {case.hit for case in r.spec.tests}
    ]
    assert lacking == []


def test_every_default_case_passes(pack: RuleSet) -> None:
    """Every case of every rule in the default pack gives the expected verdict."""
    failures = [
        f"{r.rule_id} {r.case.origin}: {r.detail}"
        for results in run_cases(pack).values()
        for r in results
        if not r.passed
    ]
    assert failures == []


def test_tool_rules_are_indexed_by_span_kind(pack: RuleSet) -> None:
    """Rules that require a tool span are not run for an LLM span."""
    tool_only = {"tool_error", "wrong_tool"}
    llm_rules = {r.id for r in pack.rules_for({"span.kind": "llm"})}
    tool_rules = {r.id for r in pack.rules_for({"span.kind": "tool"})}
    assert not tool_only & llm_rules
    assert tool_only <= tool_rules


def test_default_pack_reads_canonical_fields_only(pack: RuleSet) -> None:
    """No rule of the default pack reads a raw framework key: normalization knows them all."""
    assert pack.wanted_keys == frozenset()


def test_wanted_keys_name_the_raw_attributes_a_pack_reads(tmp_path: Path) -> None:
    """A user rule reading a raw key puts that key, never a canonical field, in wanted_keys."""
    (tmp_path / "r.yaml").write_text(
        "spansift_rules: 1\nitems:\n  - rule: r\n    exception: tool_error\n"
        "    severity: low\n    boundary: b\n    summary: s\n"
        "    when: {agt.policy.action: deny, tool.name: x}\n"
    )
    ruleset = load_ruleset([tmp_path])
    assert ruleset.wanted_keys == frozenset({"agt.policy.action"})


def test_fixture_cases_read_otlp_json() -> None:
    """A case with `fixture:` runs every span of an OTLP JSON file and hits if any span does."""
    folder = Path(__file__).resolve().parent.parent / "fixtures" / "rules" / "with_fixtures"
    ruleset = load_ruleset([folder], default_rules=False)
    results = run_cases(ruleset)["unknown_tool_from_fixture"]
    assert [(r.case.hit, r.passed, r.detail) for r in results] == [
        (True, True, ""),
        (False, True, ""),
    ]


def test_public_api() -> None:
    """spansift.rules exports exactly the names its __all__ lists."""
    import spansift.rules

    assert sorted(spansift.rules.__all__) == [
        "CompiledRule", "Contract", "Contracts", "Matcher", "RuleSet", "default_rules_dir",
        "load_ruleset",
    ]  # fmt: skip
    assert all(hasattr(spansift.rules, name) for name in spansift.rules.__all__)
