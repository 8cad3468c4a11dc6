"""The rule language: modifiers, nesting, macros, lists, exceptions, overrides and contracts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spansift.model import Severity
from spansift.rules import Contracts, RuleSet, load_ruleset
from spansift.rules._yaml import Problems
from spansift.rules.contracts import load_contracts

HEAD = "spansift_rules: 1\nitems:\n"


def _rule(when: str, rule_id: str = "r", extra: str = "") -> str:
    return (
        f"  - rule: {rule_id}\n    exception: tool_error\n    severity: low\n    boundary: tools\n"
        f"    owner: team-a\n    summary: 'tool {{tool.name}} by {{agent.name}}'\n"
        f"    when: {when}\n{extra}"
    )


def _load(tmp_path: Path, body: str, contracts: Any = None) -> RuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    return load_ruleset([path], contracts, default_rules=False)


def _hits(ruleset: RuleSet, **fields: Any) -> list[str]:
    return [m.rule_id for m in ruleset.match(fields)]


@pytest.mark.parametrize(
    ("when", "fields", "hit"),
    [
        pytest.param("{status: error}", {"status": "error"}, True, id="equals"),
        pytest.param("{status: error}", {"status": "ok"}, False, id="equals-no"),
        pytest.param("{http.code: 500}", {"http.code": "500"}, True, id="loose-number"),
        pytest.param("{status: [error, unset]}", {"status": "unset"}, True, id="list-is-in"),
        pytest.param("{tool.name: {not_in: [a, b]}}", {"tool.name": "c"}, True, id="not-in"),
        pytest.param("{tool.name: {not_in: [a, b]}}", {}, False, id="not-in-missing"),
        pytest.param(
            "{x.y: {contains: Err, ignore_case: true}}", {"x.y": "an ERROR"}, True, id="icontains"
        ),
        pytest.param("{x.y: {startswith: ab}}", {"x.y": "abc"}, True, id="startswith"),
        pytest.param("{x.y: {endswith: [zz, bc]}}", {"x.y": "abc"}, True, id="endswith-any"),
        pytest.param("{x.y: {matches: '^a.c$'}}", {"x.y": "abc"}, True, id="matches"),
        pytest.param(
            "{x.y: {matches: '^A', ignore_case: true}}", {"x.y": "abc"}, True, id="matches-i"
        ),
        pytest.param("{x.y: {exists: false}}", {}, True, id="exists-false"),
        pytest.param(
            "{usage.total_tokens: {gt: 100, lte: 200}}",
            {"usage.total_tokens": 150},
            True,
            id="range",
        ),
        pytest.param(
            "{usage.total_tokens: {gt: 100}}",
            {"usage.total_tokens": True},
            False,
            id="bool-is-not-a-number",
        ),
        pytest.param(
            "{tool.name: {not_in_field: tool.offered}}",
            {"tool.name": "x", "tool.offered": ("a", "b")},
            True,
            id="not-in-field",
        ),
        pytest.param(
            "{tool.name: {not_in_field: tool.offered}}",
            {"tool.name": "x"},
            False,
            id="not-in-field-missing",
        ),
        pytest.param(
            "{agent.name: {equals_field: handoff.to}}",
            {"agent.name": "a", "handoff.to": "a"},
            True,
            id="equals-field",
        ),
        pytest.param("{tool.offered: b}", {"tool.offered": ("a", "b")}, True, id="array-any"),
        pytest.param(
            "{any: [{status: error}, {error.type: {exists: true}}]}",
            {"error.type": "E"},
            True,
            id="any",
        ),
        pytest.param("{not: {status: ok}}", {"status": "error"}, True, id="not"),
        pytest.param(
            "{all: [{status: error}, {span.kind: tool}]}",
            {"status": "error", "span.kind": "llm"},
            False,
            id="all",
        ),
    ],
)
def test_condition(tmp_path: Path, when: str, fields: dict[str, Any], hit: bool) -> None:
    """Each modifier and combinator gives the expected verdict on a small set of fields."""
    ruleset = _load(tmp_path, _rule(when))
    assert bool(ruleset.match(fields)) is hit


def test_explain_prints_macros_expanded_and_exceptions_negated(tmp_path: Path) -> None:
    """explain shows one line with macros inlined and each exception as !(...)."""
    body = "  - macro: is_tool\n    when: {span.kind: tool}\n" + _rule(
        "{macro: is_tool, status: error}",
        extra="    exceptions:\n      - name: unknown\n"
        "        when: {error.message: {matches: unknown tool, ignore_case: true}}\n",
    )
    ruleset = _load(tmp_path, body)
    assert ruleset.explain("r") == (
        "span.kind == tool && status == error && !(error.message =~ /unknown tool/i)"
    )
    assert str(ruleset.rules[0].condition) == "span.kind == tool && status == error"


def test_exception_stops_a_hit(tmp_path: Path) -> None:
    """A span matching a rule's named exception does not hit, others still do."""
    body = _rule(
        "{status: error}",
        extra="    exceptions:\n      - name: batch\n        when: {agent.name: batch-bot}\n",
    )
    ruleset = _load(tmp_path, body)
    assert _hits(ruleset, status="error", **{"agent.name": "batch-bot"}) == []
    assert _hits(ruleset, status="error", **{"agent.name": "support"}) == ["r"]


def test_named_lists_and_summary(tmp_path: Path) -> None:
    """`in: list_name` reads a named list; the summary fills fields and '-' for missing ones."""
    body = "  - list: risky\n    values: [shell, python]\n" + _rule("{tool.name: {in: risky}}")
    ruleset = _load(tmp_path, body)
    (match,) = ruleset.match({"tool.name": "shell"})
    assert (match.summary, match.owner, match.severity) == (
        "tool shell by -",
        "team-a",
        Severity.LOW,
    )
    assert ruleset.match({"tool.name": "search"}) == []


def test_override_in_a_later_file(tmp_path: Path) -> None:
    """A later file changes severity, owner and exceptions of a rule, or disables it, by id."""
    (tmp_path / "a.yaml").write_text(HEAD + _rule("{status: error}"))
    (tmp_path / "b.yaml").write_text(
        HEAD + "  - override: r\n    severity: critical\n    owner: team-b\n"
        "    exceptions:\n      - name: quiet\n        when: {agent.name: quiet}\n"
    )
    ruleset = load_ruleset([tmp_path], default_rules=False)
    (match,) = ruleset.match({"status": "error"})
    assert (match.severity, match.owner) == (Severity.CRITICAL, "team-b")
    assert ruleset.match({"status": "error", "agent.name": "quiet"}) == []
    (tmp_path / "c.yaml").write_text(HEAD + "  - override: r\n    enabled: false\n")
    disabled = load_ruleset([tmp_path], default_rules=False)
    assert len(disabled) == 0
    assert disabled.explain("r") == "status == error && !(agent.name == quiet)"


def test_runtime_error_is_counted_and_skipped(tmp_path: Path) -> None:
    """A predicate that raises on an odd value is counted per rule and never propagates."""
    body = _rule("{x.y: {contains: a}}") + _rule("{status: error}", rule_id="r2")

    class Odd(str):
        def lower(self) -> str:
            raise RuntimeError

        def __contains__(self, item: object) -> bool:
            raise RuntimeError

    ruleset = _load(tmp_path, body)
    assert _hits(ruleset, status="error", **{"x.y": Odd("abc")}) == ["r2"]
    assert ruleset.runtime_errors == 1
    assert ruleset.errors_by_rule == {"r": 1}


def test_huge_string_is_handled(tmp_path: Path) -> None:
    """A regex over a multi-megabyte value finishes (re2 is linear) and still matches."""
    ruleset = _load(tmp_path, _rule("{error.message: {matches: '(a|aa)+$'}}"))
    assert _hits(ruleset, **{"error.message": "a" * 2_000_000 + "!"}) == []
    assert _hits(ruleset, **{"error.message": "a" * 2_000_000}) == ["r"]


def _contracts(data: dict[str, Any]) -> Contracts:
    problems = Problems()
    contracts = load_contracts(data, problems)
    assert not problems
    return contracts


def test_contract_matching_order() -> None:
    """An exact agent name wins over globs, globs apply in file order, and `*` is the fallback."""
    contracts = _contracts(
        {
            "agents": {
                "billing-*": {"owner": "glob-1"},
                "billing-eu": {"owner": "exact"},
                "billing-e*": {"owner": "glob-2"},
                "*": {"owner": "default"},
            }
        }
    )
    owners = {
        name: (c.owner if (c := contracts.for_agent(name)) else None)
        for name in ("billing-eu", "billing-es", "support", None)
    }
    assert owners == {
        "billing-eu": "exact",
        "billing-es": "glob-1",
        "support": "default",
        None: "default",
    }
    assert _contracts({"agents": {"a": {}}}).for_agent("b") is None


def test_contract_fields_and_owner(tmp_path: Path) -> None:
    """Rules read contract.* fields and a matched contract's owner replaces the rule's owner."""
    contracts = tmp_path / "contracts.yaml"
    contracts.write_text(
        "agents:\n  support:\n    owner: ops@example.com\n"
        "    tools: {allowed: [search], require_approval: [search]}\n"
        "    budget: {tokens_per_run: 100, tool_calls_per_run: 5}\n"
    )
    body = _rule("{span.kind: tool, tool.name: {not_in_field: contract.tools.allowed}}")
    body += _rule("{usage.total_tokens: {gt_field: contract.budget.tokens_per_run}}", "budget")
    ruleset = _load(tmp_path, body, contracts)
    tool = {"span.kind": "tool", "agent.name": "support"}
    (match,) = ruleset.match({**tool, "tool.name": "refund"})
    assert (match.rule_id, match.owner) == ("r", "ops@example.com")
    assert ruleset.match({**tool, "tool.name": "search"}) == []
    assert ruleset.match({**tool, "tool.name": "refund", "agent.name": "other"}) == []
    assert _hits(ruleset, **{"agent.name": "support", "usage.total_tokens": 101}) == ["budget"]
