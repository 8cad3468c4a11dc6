"""Rule files to a `Pack` of typed specs, with every problem located and collected.

spansift_rules: 1
items:
  - list: human_queues
    values: [human, support-queue]
  - macro: is_tool_span
    when: {span.kind: tool}
  - rule: tool_error
    exception: tool_error
    ...
  - override: tool_error
    severity: high
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from spansift.model import ExceptionType, FollowUp, Origin, Severity
from spansift.rules._aggregate import AGGREGATE_VALUES, aggregate_parts
from spansift.rules._cases import parse_cases
from spansift.rules._conditions import parse_condition
from spansift.rules._controls import parse_controls
from spansift.rules._fields import field_hint
from spansift.rules._yaml import (
    MappingNode,
    Node,
    Problems,
    Reader,
    SequenceNode,
    compose,
    did_you_mean,
    kind_name,
    read_text,
)
from spansift.rules.spec import (
    Condition,
    ExceptionSpec,
    ListSpec,
    MacroSpec,
    OverrideSpec,
    Pack,
    RuleSpec,
)

VERSION = 1
TOP_KEYS = ("spansift_rules", "items")
ITEM_KINDS = ("rule", "list", "macro", "override")
RULE_KEYS = (
    "rule", "exception", "severity", "boundary", "description", "summary", "when", "owner",
    "follow_up", "tags", "enabled", "scope", "exceptions", "tests", "count", "sum", "without",
    "contain", "fingerprint", "controls",
)  # fmt: skip
# Row fields a rule's `fingerprint:` may group by (the rule id is always part of it).
FINGERPRINT_FIELDS = ("workflow", "tool", "agent", "step", "boundary", "severity", "summary")
_REQUIRED = ("exception", "severity", "boundary", "summary", "when")
LIST_KEYS = ("list", "values")
MACRO_KEYS = ("macro", "when")
CONTAIN = ("agent", "workflow")
OVERRIDE_KEYS = (
    "override", "severity", "owner", "follow_up", "enabled", "exceptions", "controls",
)  # fmt: skip
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
E = TypeVar("E", bound=Enum)


def rule_files(paths: Sequence[str | Path], problems: Problems) -> list[Path]:
    """Files to load: a folder gives its *.yaml / *.yml files in name order."""
    files: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
            )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.add(
                Origin(str(entry)),
                "RULE_FILE_NOT_FOUND",
                f"no such file or folder: {entry}",
                "pass a rules folder or a .yaml file",
            )
    return files


def load_pack(paths: Sequence[str | Path], problems: Problems) -> Pack:
    """Read every rule file; problems are collected, never raised."""
    parts = [load_file(path, problems) for path in rule_files(paths, problems)]
    return Pack(
        rules=tuple(r for p in parts for r in p.rules),
        lists=tuple(x for p in parts for x in p.lists),
        macros=tuple(m for p in parts for m in p.macros),
        overrides=tuple(o for p in parts for o in p.overrides),
        unloaded=tuple(u for p in parts for u in p.unloaded),
    )


def load_file(path: Path, problems: Problems) -> Pack:
    """One rule file."""
    shown = str(path)
    text = read_text(path, shown, problems, "RULE_FILE_NOT_FOUND")
    node = None if text is None else compose(text, shown, problems)
    if node is None:
        return Pack()
    return _FileLoader(Reader(shown, problems), path.parent).top(node)


class _FileLoader:
    def __init__(self, reader: Reader, base: Path) -> None:
        self.r = reader
        self.base = base
        self.rules: list[RuleSpec] = []
        self.lists: list[ListSpec] = []
        self.macros: list[MacroSpec] = []
        self.overrides: list[OverrideSpec] = []
        self.unloaded: list[tuple[str | None, tuple[Condition, ...]]] = []

    def top(self, node: Node) -> Pack:
        r = self.r
        if not isinstance(node, MappingNode):
            r.add(
                node,
                "RULE_BAD_FILE",
                f"a rule file must be a mapping, got {kind_name(node)}",
                "start the file with 'spansift_rules: 1' and an 'items:' list",
            )
            return Pack()
        version_seen = False
        for key, key_node, value in r.pairs(node):
            if key == "spansift_rules":
                version_seen = True
                if r.scalar(value) != VERSION or isinstance(r.scalar(value), bool):
                    r.add(
                        value,
                        "RULE_BAD_VERSION",
                        "unsupported 'spansift_rules' version",
                        f"this spansift reads 'spansift_rules: {VERSION}'",
                    )
            elif key == "items":
                self.items(value)
            else:
                r.unknown_key(key_node, key, TOP_KEYS, "the top level")
        if not version_seen:
            r.add(
                node,
                "RULE_BAD_VERSION",
                "missing 'spansift_rules: 1'",
                "add 'spansift_rules: 1' as the first line of the file",
            )
        return Pack(
            tuple(self.rules), tuple(self.lists), tuple(self.macros), tuple(self.overrides),
            unloaded=tuple(self.unloaded),
        )  # fmt: skip

    def items(self, node: Node) -> None:
        if not isinstance(node, SequenceNode):
            self.r.add(
                node,
                "RULE_BAD_FILE",
                f"'items' must be a list, got {kind_name(node)}",
                "write each rule, list, macro or override as '- rule: ...'",
            )
            return
        for item in node.value:
            if not isinstance(item, MappingNode) or not item.value:
                self.r.add(
                    item,
                    "RULE_BAD_ITEM",
                    f"an item must be a mapping, got {kind_name(item)}",
                    "start each item with 'rule:', 'list:', 'macro:' or 'override:'",
                )
                continue
            keys = {str(k.value): (k, v) for k, v in item.value}
            kinds = [k for k in ITEM_KINDS if k in keys]
            if len(kinds) != 1:
                first = next(iter(keys))
                message = (
                    f"unknown item kind '{first}'"
                    if not kinds
                    else "an item must have exactly one of " + ", ".join(kinds)
                )
                hint = did_you_mean(first, ITEM_KINDS) if not kinds else "split it into two items"
                self.r.add(item, "RULE_BAD_ITEM", message, hint)
                continue
            getattr(self, "_" + kinds[0])(item)
            if self.r.salvaged:
                self.unloaded.append((None, tuple(self.r.salvaged)))
                self.r.salvaged.clear()

    def _fields(self, node: MappingNode, valid: tuple[str, ...], what: str) -> dict[str, Node]:
        out: dict[str, Node] = {}
        for key, key_node, value in self.r.pairs(node):
            if key in valid:
                out[key] = value
            else:
                self.r.unknown_key(key_node, key, valid, what)
        return out

    def _name(self, node: Node, what: str) -> str | None:
        name = self.r.string(node, what)
        if name is not None and not _ID.fullmatch(name):
            self.r.add(
                node,
                "RULE_BAD_ID",
                f"{what} '{name}' has characters that are not allowed",
                "use letters, digits, '_', '-' and '.'",
            )
            return None
        return name

    def _list(self, node: MappingNode) -> None:
        f = self._fields(node, LIST_KEYS, "a list")
        name = self._name(f["list"], "list name")
        if "values" not in f:
            self.r.add(
                node, "RULE_MISSING_KEY", f"list '{name}' has no 'values'", "add 'values: [a, b]'"
            )
            return
        raw = [self.r.scalar(v) for v in getattr(f["values"], "value", [])]
        if not isinstance(f["values"], SequenceNode) or not all(
            isinstance(v, (str, int, float)) for v in raw
        ):
            self.r.add(
                f["values"],
                "RULE_BAD_VALUE",
                f"list '{name}' values must be a list of values",
                "write 'values: [a, b]'",
            )
            return
        if name is not None:
            self.lists.append(ListSpec(name, tuple(raw), self.r.origin(node)))

    def _macro(self, node: MappingNode) -> None:
        f = self._fields(node, MACRO_KEYS, "a macro")
        name = self._name(f["macro"], "macro name")
        if "when" not in f:
            self.r.add(
                node,
                "RULE_MISSING_KEY",
                f"macro '{name}' has no 'when'",
                "add 'when:' with the condition it stands for",
            )
            return
        when = parse_condition(self.r, f["when"])
        if name is not None and when is not None:
            self.macros.append(MacroSpec(name, when, self.r.origin(node)))

    def _rule(self, node: MappingNode) -> None:
        r = self.r
        f = self._fields(node, RULE_KEYS, "a rule")
        rule_id = self._name(f["rule"], "rule id")
        missing = [k for k in _REQUIRED if k not in f]
        if missing:
            r.add(
                node,
                "RULE_MISSING_KEY",
                f"rule '{rule_id}' lacks " + ", ".join(missing),
                "every rule needs " + ", ".join(_REQUIRED),
            )
        scope = r.string(f["scope"], "'scope'") if "scope" in f else "span"
        aggregates = aggregate_parts(r, node, f, scope, rule_id)
        exception = self._enum(
            f.get("exception"), ExceptionType, "RULE_UNKNOWN_EXCEPTION_TYPE", "exception type"
        )
        severity = self._enum(f.get("severity"), Severity, "RULE_UNKNOWN_SEVERITY", "severity")
        follow_up = self._enum(f.get("follow_up"), FollowUp, "RULE_UNKNOWN_FOLLOW_UP", "follow_up")
        boundary = r.string(f["boundary"], "'boundary'") if "boundary" in f else None
        summary = r.string(f["summary"], "'summary'") if "summary" in f else None
        if summary is not None:
            self._check_template(f["summary"], summary)
        when = parse_condition(r, f["when"]) if "when" in f else None
        exceptions = self._exceptions(f.get("exceptions"))
        tests = parse_cases(r, f["tests"], self.base) if "tests" in f else ()
        values: dict[str, Any] = {
            "description": r.string(f["description"], "'description'")
            if "description" in f
            else "",
            "owner": r.string(f["owner"], "'owner'") if "owner" in f else None,
            "tags": r.strings(f["tags"], "'tags'") if "tags" in f else (),
            "fingerprint": self._fingerprint(f["fingerprint"]) if "fingerprint" in f else (),
            "enabled": r.boolean(f["enabled"], "'enabled'") if "enabled" in f else True,
            "contain": self._contain(f["contain"]) if "contain" in f else None,
            "controls": parse_controls(r, f["controls"]) if "controls" in f else (),
        }
        if (
            None in (rule_id, exception, severity, boundary, summary, when, values["enabled"])
            or aggregates is None
            or values["description"] is None
            or exceptions is None
            or (follow_up is None and "follow_up" in f)
        ):
            # Left out, but its conditions still go to the compiler so that an unknown list
            # or macro in them is reported now, not after this rule's other problems are fixed.
            self.unloaded.append(
                (rule_id, tuple(c for c in (when, *(e.when for e in exceptions or ())) if c))
            )
            return
        assert rule_id and exception and severity and boundary and summary and when
        self.rules.append(RuleSpec(
            id=rule_id, exception=exception, severity=severity, boundary=boundary,
            summary=summary, when=when, origin=r.origin(node), follow_up=follow_up,
            exceptions=exceptions, tests=tests, scope=scope or "span", **aggregates, **values,
        ))  # fmt: skip

    def _fingerprint(self, node: Node) -> tuple[str, ...]:
        fields = self.r.strings(node, "'fingerprint'")
        for name in fields:
            if name not in FINGERPRINT_FIELDS:
                self.r.add(
                    node,
                    "RULE_BAD_VALUE",
                    f"'fingerprint' field '{name}' cannot group rows",
                    "use some of " + ", ".join(FINGERPRINT_FIELDS),
                )
        return fields

    def _override(self, node: MappingNode) -> None:
        r = self.r
        f = self._fields(node, OVERRIDE_KEYS, "an override")
        rule_id = self._name(f["override"], "rule id")
        severity = self._enum(f.get("severity"), Severity, "RULE_UNKNOWN_SEVERITY", "severity")
        follow_up = self._enum(f.get("follow_up"), FollowUp, "RULE_UNKNOWN_FOLLOW_UP", "follow_up")
        owner = r.string(f["owner"], "'owner'") if "owner" in f else None
        enabled = r.boolean(f["enabled"], "'enabled'") if "enabled" in f else None
        exceptions = self._exceptions(f.get("exceptions"))
        controls = parse_controls(r, f["controls"]) if "controls" in f else ()
        if len(f) == 1:
            r.add(
                node,
                "RULE_EMPTY_OVERRIDE",
                f"override of '{rule_id}' changes nothing",
                "set one of " + ", ".join(OVERRIDE_KEYS[1:]),
            )
        if rule_id is None or exceptions is None:
            return
        self.overrides.append(OverrideSpec(
            rule_id, r.origin(node), severity=severity, owner=owner, follow_up=follow_up,
            enabled=enabled, exceptions=exceptions, controls=controls,
        ))  # fmt: skip

    def _contain(self, node: Node) -> str | None:
        value = self.r.string(node, "'contain'")
        if value not in CONTAIN:
            self.r.add(node, "RULE_BAD_VALUE", f"contain '{value}' is neither agent nor workflow",
                       "write 'contain: agent' or 'contain: workflow'")  # fmt: skip
        return value

    def _enum(self, node: Node | None, enum: type[E], code: str, what: str) -> E | None:
        if node is None:
            return None
        value = self.r.scalar(node)
        for member in enum:
            if member.value == value:
                return member
        valid = [str(m.value) for m in enum]
        self.r.add(node, code, f"unknown {what} '{value}'", did_you_mean(str(value), valid))
        return None

    def _exceptions(self, node: Node | None) -> tuple[ExceptionSpec, ...] | None:
        if node is None:
            return ()
        r = self.r
        if not isinstance(node, SequenceNode):
            r.add(
                node,
                "RULE_BAD_VALUE",
                f"'exceptions' must be a list, got {kind_name(node)}",
                "write '- name: ...' entries with a 'when:' condition each",
            )
            return None
        out: list[ExceptionSpec] = []
        ok = True
        for item in node.value:
            if not isinstance(item, MappingNode):
                r.add(
                    item,
                    "RULE_BAD_VALUE",
                    "an exception must be a mapping with name and when",
                    "write '- name: trusted_agent' and 'when: {agent.name: ...}'",
                )
                ok = False
                continue
            f = self._fields(item, ("name", "when"), "an exception")
            name = self._name(f["name"], "exception name") if "name" in f else None
            when = parse_condition(r, f["when"]) if "when" in f else None
            if name is None or when is None:
                if "name" not in f or "when" not in f:
                    r.add(
                        item,
                        "RULE_MISSING_KEY",
                        "an exception needs 'name' and 'when'",
                        "write '- name: ...' and 'when: {...}'",
                    )
                ok = False
                continue
            out.append(ExceptionSpec(name, when, r.origin(item)))
        return tuple(out) if ok else None

    def _check_template(self, node: Node, template: str) -> None:
        """Placeholders are `{field}` or `{first|second}` (the first present field is used)."""
        for names in PLACEHOLDER.findall(template):
            for raw in names.split("|"):
                name = raw.strip()
                if name in AGGREGATE_VALUES:
                    continue
                hint = field_hint(name) if name else "write a field name inside the braces"
                if hint is not None:
                    self.r.add(
                        node, "RULE_UNKNOWN_FIELD", f"unknown field '{name}' in summary", hint
                    )
