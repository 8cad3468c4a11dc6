"""What a condition needs present on a span, computed while compiling.

`present`: the canonical fields one of which must be present for the condition to
hold; the rule set uses it for its per-rule guards and to tell whether every rule
needs an agent field (`RuleSet.agent_only`). For a conjunction either part's will do;
for a disjunction every part's are needed; a negation needs nothing in particular.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ERROR_FIELD = "status=error"


def present_fields(field: str, accepted: tuple[object, ...] | None = None) -> frozenset[str] | None:
    """The fields a presence-requiring test on `field` needs (None: any span has it)."""
    if field == "status":
        if accepted and all(str(v).lower() == "error" for v in accepted):
            return frozenset({ERROR_FIELD})
        return None
    if field.startswith("contract.") or field in ("span.name", "span.kind", "step", "workflow"):
        return None
    return frozenset({field})


def narrowest(options: Sequence[Any]) -> Any:
    """For a conjunction any part's fields will do; the fewest filter best."""
    known = [n for n in options if n is not None]
    return min(known, key=len) if known else None
