"""Values a canonical field can never hold, and canonical names that do not exist.

Normalization gives some canonical fields a closed set of values (`status` is
ok, error or unset; `span.kind` is one of eight words). A rule testing
`status: eror` loads, compiles and silently never fires, so `rules check`
reports it as RULE_UNKNOWN_VALUE with the closest valid value. The same holds
for a dotted name in a namespace only spansift uses (`gate.`, `usage.`, ...):
no framework writes `usage.total`, so it is a misspelling, not a raw key.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from spansift.attrs import CANONICAL_FIELDS, CLOSED_VALUES
from spansift.model import Origin
from spansift.rules._yaml import Node, Problems, Reader, SequenceNode, did_you_mean

# Operators whose values must be members of a closed set to mean anything.
CHECKED_OPS = frozenset({"equals", "in", "not_in"})
# Namespaces of canonical fields that no convention uses for raw attribute keys
# (`tool.*`, `agent.*`, `session.*`, `user.*`, `error.*` and `service.*` are raw keys too).
OWN_NAMESPACES = ("span.", "usage.", "gate.", "human.", "handoff.", "guardrail.", "limit.")


def unknown_values(field: str, values: Iterable[object], *, ignore_case: bool) -> list[str]:
    """The values of `values` that `field` can never hold (empty for an open field)."""
    allowed = CLOSED_VALUES.get(field)
    if allowed is None:
        return []
    bad: list[str] = []
    for value in values:
        text = value if isinstance(value, str) else None
        if text is not None and ignore_case:
            text = text.lower()
        if text not in allowed:
            bad.append(str(value))
    return bad


def report_values(
    problems: Problems,
    origin: Origin,
    field: str,
    values: Iterable[object],
    *,
    ignore_case: bool = False,
    list_name: str | None = None,
) -> None:
    """Add one RULE_UNKNOWN_VALUE per value `field` can never hold."""
    allowed = sorted(CLOSED_VALUES.get(field, frozenset()))
    where = f" (in list '{list_name}')" if list_name else ""
    for value in unknown_values(field, values, ignore_case=ignore_case):
        if value.lower() in allowed:
            hint = f"did you mean '{value.lower()}'? (values are lower case)"
        else:
            hint = did_you_mean(value, allowed, cutoff=0.5) or "valid: " + ", ".join(allowed)
        problems.add(
            origin,
            "RULE_UNKNOWN_VALUE",
            f"'{field}' never has the value '{value}'{where}",
            hint,
        )


def check_nodes(r: Reader, field: str, node: Node, *, ignore_case: bool = False) -> None:
    """Report each scalar of `node` (a value or a list of values) that `field` never holds."""
    if field not in CLOSED_VALUES:
        return
    for item in node.value if isinstance(node, SequenceNode) else [node]:
        value = r.scalar(item)
        report_values(r.problems, r.origin(item), field, [value], ignore_case=ignore_case)


def own_namespace_hint(name: str) -> str | None:
    """For `usage.total`: the hint naming the canonical field meant; None for other names."""
    if not name.startswith(OWN_NAMESPACES) or name in CANONICAL_FIELDS:
        return None
    prefix = name.split(".", 1)[0] + "."
    siblings = [f for f in CANONICAL_FIELDS if f.startswith(prefix)]
    close = difflib.get_close_matches(name, siblings, n=1, cutoff=0.5)
    if close:
        return f"did you mean '{close[0]}'?"
    return "canonical fields here: " + ", ".join(siblings)
