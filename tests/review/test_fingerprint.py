"""Fingerprints: rule + workflow + tool by default, or the fields a rule's `fingerprint:` names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from review_helpers import Serve, hit, rows, seed

from spansift.rules import load_ruleset

RULES = Path(__file__).parents[1] / "fixtures" / "review" / "rules"


def _patterns(db: Path) -> list[tuple[str, int]]:
    return rows(db, "SELECT workflow, exceptions FROM exception_pattern_view ORDER BY workflow")


def test_rule_fingerprint_key_is_loaded() -> None:
    """`fingerprint: [tool]` reaches the rule spec."""
    ruleset = load_ruleset([str(RULES)], default_rules=False)
    assert ruleset.all_rules[0].spec.fingerprint == ("tool",)


def test_default_fingerprint_splits_workflows(db: Path) -> None:
    """Without a `fingerprint:` key the same tool failing in two workflows is two patterns."""
    seed(db, [hit(1), hit(2), hit(3, workflow="billing")])
    assert _patterns(db) == [("billing", 1), ("support", 2)]


def test_receiver_applies_rule_fingerprints(
    db: Path, cli: Callable[..., Result], serve: Callable[..., Serve]
) -> None:
    """A receiver started with the rule records its fields, so the workflows share a pattern."""
    seed(db, [hit(1), hit(2), hit(3, workflow="billing")])
    server = serve(db, "--rules", str(RULES), "--no-default-rules")
    assert server.stop() == 0
    found = _patterns(db)
    assert len(found) == 1
    assert found[0][1] == 3
