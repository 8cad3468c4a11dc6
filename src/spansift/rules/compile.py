"""Specs to predicates: lists and macros resolved, overrides applied, closures built once.

A `Matcher` is a predicate over (span fields, contract fields) that also knows
how to print itself and which `span.kind` values it can be true for; the rule
set uses those kinds to skip rules that cannot match a span.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from spansift.model import Fields
from spansift.rules._aggregate import AGGREGATE_VALUES
from spansift.rules._closed import CHECKED_OPS, report_values
from spansift.rules._needs import narrowest, present_fields
from spansift.rules._yaml import Problems, did_you_mean
from spansift.rules.load import PLACEHOLDER
from spansift.rules.operators import OPERATORS, Getter, Predicate
from spansift.rules.spec import (
    AllOf,
    Condition,
    FieldTest,
    ListSpec,
    MacroRef,
    MacroSpec,
    NotOf,
    Pack,
    RuleSpec,
)
from spansift.rules.trace import Aggregate, compile_count, compile_sum, compile_without

_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


class _Missing(Exception):
    """An optional part of a summary names a field the record does not have."""


# Operator precedence for printing: an OR inside an AND gets parentheses.
_OR, _AND, _ATOM = 0, 1, 2
_SUMMARY_VALUE_CHARS = 200


@dataclass(frozen=True, slots=True)
class Matcher:
    """A compiled condition: `test(fields, contract_fields)`, printable with `str()`."""

    test: Predicate
    text: str
    reads: frozenset[str]
    kinds: frozenset[str] | None = None  # span.kind values it can hold for; None = any
    precedence: int = _ATOM
    # The fields one of which must be present for the condition to hold (ERROR_FIELD for
    # an ERROR status); None = no such field. The rule set's guards test it on fields.
    present: frozenset[str] | None = None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to run: its (overridden) spec, condition, exceptions and summary parts."""

    spec: RuleSpec
    condition: Matcher
    exceptions: tuple[tuple[str, Matcher], ...]
    # (literal text, fields tried in order for the placeholder after it; empty at the end)
    summary_parts: tuple[tuple[str, tuple[str, ...]], ...]
    # Trace and run rules: what is counted, summed or missing over the spans passing `hits`.
    aggregate: Aggregate | None = None

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def kinds(self) -> frozenset[str] | None:
        return self.condition.kinds

    @property
    def reads(self) -> frozenset[str]:
        out = set(self.condition.reads)
        for _, matcher in self.exceptions:
            out |= matcher.reads
        out.update(field for _, fields in self.summary_parts for field in fields)
        return frozenset(out - AGGREGATE_VALUES)

    def hits(self, fields: Fields, contract: Fields) -> bool:
        """Whether the condition holds and no exception does."""
        if not self.condition.test(fields, contract):
            return False
        # Loops, not any()/all(), here and in _all/_any: they run per span and rule.
        for _, exception in self.exceptions:  # noqa: SIM110
            if exception.test(fields, contract):
                return False
        return True

    def summary(self, fields: Fields, contract: Fields) -> str:
        """The summary template filled from the fields.

        A `[...]` part is left out when a field it names is missing; elsewhere a missing
        field reads '-'.
        """

        def fill(found: re.Match[str], *, optional: bool) -> str:
            names = [n.strip() for n in found.group(1).split("|")]
            value = _first(tuple(names), fields, contract)
            if value is None and optional:
                raise _Missing
            return _render(value)

        def group(found: re.Match[str]) -> str:
            try:
                return PLACEHOLDER.sub(lambda m: fill(m, optional=True), found.group(1))
            except _Missing:
                return ""

        text = _OPTIONAL.sub(group, self.spec.summary)
        return PLACEHOLDER.sub(lambda m: fill(m, optional=False), text)

    def explain(self) -> str:
        """The condition and its exceptions on one line (for trace rules, the aggregate too)."""
        text = self.condition.text
        if self.exceptions:
            if self.condition.precedence < _AND:
                text = f"({text})"
            text += "".join(f" && !({m.text})" for _, m in self.exceptions)
        if self.aggregate is not None:
            return f"{self.spec.scope}: {self.aggregate.text} of spans where {text}"
        return text


def _first(names: tuple[str, ...], fields: Fields, contract: Fields) -> Any:
    for name in names:
        value = (contract if name.startswith("contract.") else fields).get(name)
        if value is not None and value != "":
            return value
    return None


def _render(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, tuple):
        text = ",".join(_render(v) for v in value)
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    text = " ".join(text.split())
    if len(text) > _SUMMARY_VALUE_CHARS:
        text = text[: _SUMMARY_VALUE_CHARS - 1] + "…"
    return text


def _getter(field: str) -> Getter:
    if field.startswith("contract."):
        return lambda f, c: c.get(field)
    return lambda f, c: f.get(field)


class Compiler:
    """Compiles a pack; every problem goes to `problems`."""

    def __init__(self, pack: Pack, problems: Problems) -> None:
        self.pack = pack
        self.problems = problems
        self.lists: dict[str, ListSpec] = self._unique(pack.lists, "list")
        self.macros: dict[str, MacroSpec] = self._unique(pack.macros, "macro")
        self._compiled_macros: dict[str, Matcher | None] = {}
        self._compiling: list[str] = []

    def _unique(self, items: tuple[Any, ...], what: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for item in items:
            first = out.get(item.name)
            if first is not None:
                self.problems.add(
                    item.origin,
                    "RULE_DUPLICATE_NAME",
                    f"{what} '{item.name}' is defined twice",
                    f"first defined at {first.origin}; rename or remove one",
                )
            else:
                out[item.name] = item
        return out

    def rules(self) -> list[CompiledRule]:
        """All rules (enabled or not), overrides applied, in load order."""
        specs: dict[str, RuleSpec] = {}
        for rule in self.pack.rules:
            first = specs.get(rule.id)
            if first is not None:
                self.problems.add(
                    rule.origin,
                    "RULE_DUPLICATE_ID",
                    f"rule id '{rule.id}' is already used",
                    f"first defined at {first.origin}; to change it from another "
                    "file use 'override:', otherwise pick a new id",
                )
            else:
                specs[rule.id] = rule
        unloaded = {rule_id for rule_id, _ in self.pack.unloaded}
        for override in self.pack.overrides:
            target = specs.get(override.rule_id)
            if target is None and override.rule_id in unloaded:
                continue  # the rule's own problems are reported; this one would only follow
            if target is None:
                self.problems.add(
                    override.origin,
                    "RULE_OVERRIDE_UNKNOWN_ID",
                    f"override of unknown rule '{override.rule_id}'",
                    did_you_mean(override.rule_id, specs),
                )
                continue
            changes: dict[str, Any] = {
                name: getattr(override, name)
                for name in ("severity", "owner", "follow_up", "enabled")
                if getattr(override, name) is not None
            }
            changes["exceptions"] = target.exceptions + override.exceptions
            changes["controls"] = tuple(dict.fromkeys(target.controls + override.controls))
            specs[target.id] = dataclasses.replace(target, **changes)
        for _, conditions in self.pack.unloaded:
            for condition in conditions:
                self.condition(condition)  # for the problems it records
        out: list[CompiledRule] = []
        for spec in specs.values():
            compiled = self.rule(spec)
            if compiled is not None:
                out.append(compiled)
        return out

    def rule(self, spec: RuleSpec) -> CompiledRule | None:
        condition = self.condition(spec.when)
        exceptions = [(e.name, self.condition(e.when)) for e in spec.exceptions]
        if condition is None or any(m is None for _, m in exceptions):
            return None
        aggregate: Aggregate | None = None
        if spec.count is not None:
            aggregate = compile_count(spec.count)
        elif spec.sum is not None:
            aggregate = compile_sum(spec.sum)
        elif spec.without is not None:
            other = self.condition(spec.without.when)
            if other is None:
                return None
            aggregate = compile_without(spec.without, other.test, other.text)
        return CompiledRule(
            spec=spec,
            condition=condition,
            exceptions=tuple((n, m) for n, m in exceptions if m is not None),
            summary_parts=_template(spec.summary),
            aggregate=aggregate,
        )

    def condition(self, cond: Condition) -> Matcher | None:
        """The matcher for a condition, or None after recording why it cannot be built."""
        if isinstance(cond, FieldTest):
            return self._field(cond)
        if isinstance(cond, MacroRef):
            return self._macro(cond)
        if isinstance(cond, NotOf):
            inner = self.condition(cond.part)
            if inner is None:
                return None
            test = inner.test
            text = f"!{inner.text}" if inner.precedence == _ATOM else f"!({inner.text})"
            return Matcher(lambda f, c: not test(f, c), text, inner.reads)
        parts = [self.condition(p) for p in cond.parts]
        if any(p is None for p in parts):
            return None
        done = [p for p in parts if p is not None]
        if len(done) == 1:
            return done[0]
        return _all(done) if isinstance(cond, AllOf) else _any(done)

    def _macro(self, ref: MacroRef) -> Matcher | None:
        if ref.name in self._compiled_macros:
            return self._compiled_macros[ref.name]
        spec = self.macros.get(ref.name)
        if spec is None:
            self.problems.add(
                ref.origin,
                "RULE_UNKNOWN_MACRO",
                f"no macro named '{ref.name}'",
                did_you_mean(ref.name, self.macros) or "define it with '- macro:'",
            )
            return None
        if ref.name in self._compiling:
            chain = " -> ".join([*self._compiling, ref.name])
            self.problems.add(
                ref.origin,
                "RULE_MACRO_CYCLE",
                f"macro cycle: {chain}",
                "a macro must not refer to itself, directly or through another",
            )
            self._compiled_macros[ref.name] = None
            return None
        self._compiling.append(ref.name)
        matcher = self.condition(spec.when)
        self._compiling.pop()
        self._compiled_macros[ref.name] = matcher
        return matcher

    def _field(self, test: FieldTest) -> Matcher | None:
        op = OPERATORS[test.op]
        get = _getter(test.field)
        reads = {test.field}
        if test.other_field is not None:
            reads.add(test.other_field)
            predicate, symbol = op.build(get, _getter(test.other_field), test.ignore_case)
            text = f"{test.field} {symbol} {test.other_field}"
            either = narrowest([present_fields(test.field), present_fields(test.other_field)])
            return Matcher(predicate, text, frozenset(reads), present=either)
        value: Any = test.value
        if test.list_name is not None:
            named = self.lists.get(test.list_name)
            if named is None:
                hint = did_you_mean(test.list_name, self.lists)
                if not hint.startswith("did"):
                    hint = f"define it with '- list: {test.list_name}', or write [{test.list_name}]"
                self.problems.add(
                    test.origin, "RULE_UNKNOWN_LIST", f"no list named '{test.list_name}'", hint
                )
                return None
            value = named.values
            if test.op in CHECKED_OPS:
                report_values(self.problems, test.origin, test.field, value,
                              ignore_case=test.ignore_case, list_name=test.list_name)  # fmt: skip
        predicate, text = op.build(get, value, test.ignore_case)
        if test.op == "exists":
            text = f"exists({test.field})" if value else f"!exists({test.field})"
        else:
            text = f"{test.field} {text}"
        kinds = None
        if test.field == "span.kind" and test.op in ("equals", "in") and not test.ignore_case:
            kinds = frozenset(str(v) for v in value)
        # Every modifier but `exists: false` is false for an absent field.
        present: frozenset[str] | None = None
        if test.op != "exists" or value:
            accepted = tuple(value) if test.op in ("equals", "in") else None
            present = present_fields(test.field, accepted)
        return Matcher(predicate, text, frozenset(reads), kinds, present=present)


def _all(parts: list[Matcher]) -> Matcher:
    tests = tuple(p.test for p in parts)
    if len(tests) == 2:
        first, second = tests

        def test(f: Fields, c: Fields) -> bool:
            return first(f, c) and second(f, c)
    else:

        def test(f: Fields, c: Fields) -> bool:
            for t in tests:  # noqa: SIM110
                if not t(f, c):
                    return False
            return True

    guards = [p.kinds for p in parts if p.kinds is not None]
    kinds = frozenset.intersection(*guards) if guards else None
    text = " && ".join(f"({p.text})" if p.precedence < _AND else p.text for p in parts)
    present = narrowest([p.present for p in parts])
    return Matcher(test, text, _reads(parts), kinds, _AND, present)


def _any(parts: list[Matcher]) -> Matcher:
    tests = tuple(p.test for p in parts)

    def test(f: Fields, c: Fields) -> bool:
        for t in tests:  # noqa: SIM110
            if t(f, c):
                return True
        return False

    guards = [p.kinds for p in parts]
    kinds = None if any(g is None for g in guards) else frozenset().union(*guards)  # type: ignore[arg-type]
    text = " || ".join(p.text for p in parts)
    present: frozenset[str] | None = None
    if all(p.present is not None for p in parts):
        present = frozenset().union(*(p.present for p in parts if p.present is not None))
    return Matcher(test, text, _reads(parts), kinds, _OR, present)


def _reads(parts: list[Matcher]) -> frozenset[str]:
    return frozenset().union(*(p.reads for p in parts))


def _template(summary: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`"a {x|y} b"` -> (("a ", ("x", "y")), (" b", ())): the first present field fills it."""
    parts: list[tuple[str, tuple[str, ...]]] = []
    pos = 0
    for found in PLACEHOLDER.finditer(summary):
        names = tuple(n.strip() for n in found.group(1).split("|"))
        parts.append((summary[pos : found.start()], names))
        pos = found.end()
    parts.append((summary[pos:], ()))
    return tuple(parts)
