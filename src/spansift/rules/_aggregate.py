"""The trace and run parts of a rule: `count:`, `sum:` and `without:`, parsed into specs.

- rule: runaway_loop
  scope: trace                     # or run: the traces of one session/conversation
  when: {span.kind: tool}          # which spans take part
  count: {by: [tool.name], gte: 5}
- rule: cost_cap
  scope: run
  when: {usage.total_tokens: {exists: true}}
  sum: {field: usage.total_tokens, gt_field: contract.budget.tokens_per_run}
- rule: approval_bypassed
  scope: run
  when: {tool.name: {in_field: contract.tools.require_approval}}
  without: {when: {gate.decision: approved}, match: {tool.name: gate.name}, before: true}
"""

from __future__ import annotations

from typing import Any

from spansift.rules._conditions import parse_condition
from spansift.rules._fields import field_hint
from spansift.rules._yaml import MappingNode, Node, Reader, SequenceNode, kind_name
from spansift.rules.spec import CountSpec, Limit, SumSpec, WithoutSpec


def aggregate_parts(
    r: Reader, node: MappingNode, f: dict[str, Node], scope: str | None, rule_id: str | None
) -> dict[str, Any] | None:
    """The `count`/`sum`/`without` of a rule, checked against its scope; None on a problem."""
    given = [k for k in AGGREGATES if k in f]
    if scope not in SCOPES:
        if scope is not None:
            r.add(
                f["scope"],
                "RULE_UNKNOWN_SCOPE",
                f"unknown scope '{scope}'",
                "valid: span (each span), trace (a whole trace), run (traces of one session)",
            )
        return None
    if scope == "span":
        if given:
            r.add(
                f[given[0]],
                "RULE_AGGREGATE_NEEDS_SCOPE",
                f"'{given[0]}' in rule '{rule_id}' needs a trace or run scope",
                "add 'scope: trace' (or 'scope: run' to span traces of one session)",
            )
            return None
        return {}
    if len(given) != 1:
        r.add(
            node,
            "RULE_BAD_AGGREGATE",
            f"a {scope} rule needs exactly one of count, sum, without (rule '{rule_id}')",
            "e.g. 'count: {by: [tool.name], gte: 5}'",
        )
        return None
    key = given[0]
    parser = {"count": parse_count, "sum": parse_sum, "without": parse_without}[key]
    parsed = parser(r, f[key])
    return None if parsed is None else {key: parsed}


SCOPES = ("span", "trace", "run")
AGGREGATES = ("count", "sum", "without")
LIMIT_KEYS = ("gt", "gte", "gt_field", "gte_field")
COUNT_KEYS = ("by", *LIMIT_KEYS)
SUM_KEYS = ("field", *LIMIT_KEYS)
WITHOUT_KEYS = ("when", "match", "before")
# Values a trace rule's summary may name besides fields: what was counted, summed, missing.
AGGREGATE_VALUES = frozenset({"count", "sum", "limit", "missing"})


def _mapping(r: Reader, node: Node, what: str, example: str) -> MappingNode | None:
    if isinstance(node, MappingNode):
        return node
    r.add(node, "RULE_BAD_AGGREGATE", f"'{what}' must be a mapping, got {kind_name(node)}", example)
    return None


def _fields(r: Reader, node: MappingNode, valid: tuple[str, ...], what: str) -> dict[str, Node]:
    out: dict[str, Node] = {}
    for key, key_node, value in r.pairs(node):
        if key in valid:
            out[key] = value
        else:
            r.unknown_key(key_node, key, valid, what)
    return out


def _field_name(r: Reader, node: Node, what: str) -> str | None:
    name = r.string(node, what)
    if name is not None:
        hint = field_hint(name)
        if hint:
            r.add(node, "RULE_UNKNOWN_FIELD", f"unknown field '{name}' in {what}", hint)
            return None
    return name


def _limit(r: Reader, node: MappingNode, f: dict[str, Node], what: str) -> Limit | None:
    given = [k for k in LIMIT_KEYS if k in f]
    if len(given) != 1:
        r.add(
            node,
            "RULE_BAD_AGGREGATE",
            f"'{what}' needs exactly one limit: " + ", ".join(LIMIT_KEYS),
            "e.g. 'gte: 5' or 'gt_field: contract.budget.tool_calls_per_run'",
        )
        return None
    key = given[0]
    op = key.removesuffix("_field")
    if key.endswith("_field"):
        field = _field_name(r, f[key], f"'{what}.{key}'")
        return Limit(op, field=field) if field is not None else None
    value: Any = r.scalar(f[key])
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        r.add(
            f[key], "RULE_BAD_VALUE", f"'{what}.{key}' must be a number >= 0", f"write '{key}: 5'"
        )
        return None
    return Limit(op, number=float(value))


def parse_count(r: Reader, node: Node) -> CountSpec | None:
    mapping = _mapping(r, node, "count", "write 'count: {by: [tool.name], gte: 5}'")
    if mapping is None:
        return None
    f = _fields(r, mapping, COUNT_KEYS, "'count'")
    limit = _limit(r, mapping, f, "count")
    by = r.strings(f["by"], "'count.by'") if "by" in f else ()
    for name in by:
        hint = field_hint(name)
        if hint:
            r.add(f["by"], "RULE_UNKNOWN_FIELD", f"unknown field '{name}' in 'count.by'", hint)
            return None
    return CountSpec(limit, tuple(by)) if limit is not None else None


def parse_sum(r: Reader, node: Node) -> SumSpec | None:
    example = "write 'sum: {field: usage.total_tokens, gt: 20000}'"
    mapping = _mapping(r, node, "sum", example)
    if mapping is None:
        return None
    f = _fields(r, mapping, SUM_KEYS, "'sum'")
    limit = _limit(r, mapping, f, "sum")
    if "field" not in f:
        r.add(mapping, "RULE_MISSING_KEY", "'sum' needs 'field'", example)
        return None
    field = _field_name(r, f["field"], "'sum.field'")
    if field is None or limit is None:
        return None
    return SumSpec(field, limit)


def parse_without(r: Reader, node: Node) -> WithoutSpec | None:
    example = "write 'without: {when: {gate.decision: approved}, match: {tool.name: gate.name}}'"
    mapping = _mapping(r, node, "without", example)
    if mapping is None:
        return None
    f = _fields(r, mapping, WITHOUT_KEYS, "'without'")
    if "when" not in f or "match" not in f:
        r.add(mapping, "RULE_MISSING_KEY", "'without' needs 'when' and 'match'", example)
        return None
    when = parse_condition(r, f["when"])
    match_node = _mapping(r, f["match"], "without.match", example)
    pairs: list[tuple[str, tuple[str, ...]]] = []
    if match_node is not None:
        for key, key_node, value in r.pairs(match_node):
            mine = _field_name(r, key_node, "'without.match'")
            nodes = value.value if isinstance(value, SequenceNode) else [value]
            theirs = [_field_name(r, node, "'without.match'") for node in nodes]
            if mine is None or not theirs or None in theirs:
                return None
            pairs.append((key, tuple(t for t in theirs if t is not None)))
    before = r.boolean(f["before"], "'without.before'") if "before" in f else False
    if when is None or not pairs or before is None:
        return None
    return WithoutSpec(when, tuple(pairs), before)
