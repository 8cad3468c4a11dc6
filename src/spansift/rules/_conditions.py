"""YAML condition nodes to `Condition` trees: a mapping is AND, `any:`/`all:`/`not:` nest.

when:
  span.kind: tool                       # equals
  status: [error]                       # a list means "in"
  error.message: {contains: not found, ignore_case: true}
  any: [{gate.decision: denied}, {macro: rejected_by_user}]
"""

from __future__ import annotations

from typing import Any

import re2

from spansift.rules._closed import CHECKED_OPS, check_nodes
from spansift.rules._fields import field_hint
from spansift.rules._yaml import (
    MappingNode,
    Node,
    Reader,
    ScalarNode,
    SequenceNode,
    did_you_mean,
    kind_name,
)
from spansift.rules.operators import OPERATORS, OPTIONS, compile_regex
from spansift.rules.spec import AllOf, AnyOf, Condition, FieldTest, MacroRef, NotOf

_KEYWORDS = ("any", "all", "not", "macro")


def parse_condition(r: Reader, node: Node) -> Condition | None:
    """A condition from a mapping node; None (with problems recorded) when it is unusable."""
    if not isinstance(node, MappingNode):
        r.add(
            node,
            "RULE_BAD_CONDITION",
            f"a condition must be a mapping, got {kind_name(node)}",
            "write 'field: value' pairs; use 'any: [...]' for alternatives",
        )
        return None
    if not node.value:
        r.add(node, "RULE_BAD_CONDITION", "empty condition", "add at least one 'field: value'")
        return None
    parts: list[Condition] = []
    ok = True
    for key, key_node, value in r.pairs(node):
        part = _entry(r, key, key_node, value)
        if part is None:
            ok = False
        else:
            parts.append(part)
    if not ok:
        r.salvaged.extend(parts)
        return None
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts), r.origin(node))


def _entry(r: Reader, key: str, key_node: Node, value: Node) -> Condition | None:
    if key in ("any", "all"):
        return _group(r, key, key_node, value)
    if key == "not":
        inner = parse_condition(r, value)
        return None if inner is None else NotOf(inner, r.origin(key_node))
    if key == "macro":
        return _macros(r, key_node, value)
    return _field(r, key, key_node, value)


def _group(r: Reader, key: str, key_node: Node, value: Node) -> Condition | None:
    parts: list[Condition | None]
    if isinstance(value, SequenceNode) and value.value:
        parts = [parse_condition(r, item) for item in value.value]
    elif isinstance(value, MappingNode) and value.value:
        parts = [_entry(r, k, kn, v) for k, kn, v in r.pairs(value)]
    else:
        r.add(
            value,
            "RULE_BAD_CONDITION",
            f"'{key}' needs a non-empty list of conditions, got {kind_name(value)}",
            f"write '{key}: [{{field: value}}, {{field: value}}]'",
        )
        return None
    done = tuple(p for p in parts if p is not None)
    if len(done) < len(parts):
        r.salvaged.extend(done)
        return None
    origin = r.origin(key_node)
    return AnyOf(done, origin) if key == "any" else AllOf(done, origin)


def _macros(r: Reader, key_node: Node, value: Node) -> Condition | None:
    names = r.strings(value, "'macro'") if isinstance(value, SequenceNode) else None
    if names is None:
        name = r.string(value, "'macro'")
        if name is None:
            return None
        return MacroRef(name, r.origin(value))
    refs = tuple(MacroRef(n, r.origin(item)) for n, item in zip(names, value.value, strict=False))
    return AllOf(refs, r.origin(key_node)) if len(refs) > 1 else (refs[0] if refs else None)


def _field(r: Reader, name: str, key_node: Node, value: Node) -> Condition | None:
    hint = field_hint(name)
    if hint is not None:
        r.add(key_node, "RULE_UNKNOWN_FIELD", f"unknown field '{name}'", hint)
        return None
    origin = r.origin(key_node)
    if isinstance(value, MappingNode):
        return _modifiers(r, name, value)
    literal = _scalars(r, value)
    if literal is None:
        r.add(
            value,
            "RULE_BAD_VALUE",
            f"'{name}' must be a value, a list of values or a mapping of modifiers",
            f"write '{name}: {{exists: false}}' to require a missing field",
        )
        return None
    check_nodes(r, name, value)
    return FieldTest(name, "equals" if isinstance(value, ScalarNode) else "in", literal, origin)


def _scalars(r: Reader, node: Node) -> tuple[Any, ...] | None:
    """A non-null scalar or a non-empty list of them, as a tuple."""
    items = node.value if isinstance(node, SequenceNode) else [node]
    values = [r.scalar(item) for item in items]
    if not values or any(
        v is None or v is ... or not isinstance(v, (str, bool, int, float)) for v in values
    ):
        return None
    return tuple(values)


def _modifiers(r: Reader, name: str, node: MappingNode) -> Condition | None:
    ignore_case = False
    entries = list(r.pairs(node))
    for key, _, value in entries:
        if key == "ignore_case":
            ignore_case = bool(r.boolean(value, "'ignore_case'"))
    tests: list[Condition] = []
    ok = True
    for key, key_node, value in entries:
        if key in OPTIONS:
            continue
        op = OPERATORS.get(key)
        if op is None:
            r.add(
                key_node,
                "RULE_UNKNOWN_MODIFIER",
                f"unknown modifier '{key}' on field '{name}'",
                did_you_mean(key, [*OPERATORS, *OPTIONS]),
            )
            ok = False
            continue
        test = _modifier(
            r, name, op.name, op.arg, value, ignore_case=ignore_case, origin=r.origin(key_node)
        )
        ok = ok and test is not None
        if test is not None:
            tests.append(test)
    if not ok:
        r.salvaged.extend(tests)
        return None
    if not tests:
        r.add(
            node,
            "RULE_BAD_CONDITION",
            f"no modifier given for field '{name}'",
            "add one, e.g. '{contains: text}'",
        )
        return None
    return tests[0] if len(tests) == 1 else AllOf(tuple(tests), r.origin(node))


def _modifier(
    r: Reader, name: str, op: str, arg: str, value: Node, *, ignore_case: bool, origin: Any
) -> FieldTest | None:
    raw = r.scalar(value)

    def bad(expected: str, example: str) -> None:
        r.add(
            value,
            "RULE_BAD_VALUE",
            f"'{op}' on '{name}' needs {expected}, got {kind_name(value)}",
            f"write e.g. '{op}: {example}'",
        )

    if arg == "values":
        if op != "equals" and isinstance(raw, str):
            return FieldTest(name, op, None, origin, ignore_case, list_name=raw)
        values = _scalars(r, value)
        if values is None:
            bad("a value or a list of values", "[a, b]")
            return None
        if op in CHECKED_OPS:
            check_nodes(r, name, value, ignore_case=ignore_case)
        return FieldTest(name, op, values, origin, ignore_case)
    if arg == "texts":
        texts = _scalars(r, value)
        if texts is None or not all(isinstance(t, str) for t in texts):
            bad("a string or a list of strings", "text")
            return None
        return FieldTest(name, op, texts, origin, ignore_case)
    if arg == "regex":
        if not isinstance(raw, str):
            bad("a regular expression string", "'^unknown tool'")
            return None
        try:
            compile_regex(raw, ignore_case)
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            r.add(
                value,
                "RULE_BAD_REGEX",
                f"invalid regular expression for '{name}': {reason}",
                "re2 syntax: no backreferences or lookaround; escape ( ) [ ] with a backslash",
            )
            return None
        return FieldTest(name, op, raw, origin, ignore_case)
    if arg == "bool":
        if not isinstance(raw, bool):
            bad("true or false", "true")
            return None
        return FieldTest(name, op, raw, origin)
    if arg == "number":
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            bad("a number", "10")
            return None
        return FieldTest(name, op, raw, origin)
    other = r.string(value, f"'{op}'")
    if other is None:
        return None
    hint = field_hint(other)
    if hint is not None:
        r.add(value, "RULE_UNKNOWN_FIELD", f"unknown field '{other}'", hint)
        return None
    return FieldTest(name, op, None, origin, ignore_case, other_field=other)
