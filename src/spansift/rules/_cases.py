"""Inline rule tests: `tests:` entries of a rule, parsed into `CaseSpec`s.

tests:
  - hit: true
    span: {name: execute_tool refund, status: error, gen_ai.operation.name: execute_tool}
  - hit: false
    fixture: fixtures/ok_run.json     # OTLP JSON, relative to the rule file
    contracts: {agents: {support: {tools: {allowed: [refund]}}}}
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spansift.model import AttrValue
from spansift.rules._yaml import (
    MappingNode,
    Node,
    Reader,
    SequenceNode,
    did_you_mean,
    kind_name,
    to_python,
)
from spansift.rules.contracts import parse_contracts
from spansift.rules.spec import CaseSpec, TestSpan

CASE_KEYS = ("hit", "span", "spans", "fixture", "contracts", "note")
SPAN_LINKS = ("id", "parent", "trace")
STATUSES = ("ok", "error", "unset")
SPAN_KEYS = ("name", "status", "status_message", "events", *SPAN_LINKS)


def parse_cases(r: Reader, node: Node, base: Path) -> tuple[CaseSpec, ...]:
    """The cases of one rule; malformed cases are reported and left out."""
    if not isinstance(node, SequenceNode):
        r.add(
            node,
            "RULE_BAD_TEST",
            f"'tests' must be a list, got {kind_name(node)}",
            "write '- hit: true' entries with a 'span:' each",
        )
        return ()
    out = (_case(r, item, base) for item in node.value)
    return tuple(c for c in out if c is not None)


def _case(r: Reader, node: Node, base: Path) -> CaseSpec | None:
    if not isinstance(node, MappingNode):
        r.add(
            node,
            "RULE_BAD_TEST",
            f"a test case must be a mapping, got {kind_name(node)}",
            "write '- hit: true' and 'span: {...}'",
        )
        return None
    f: dict[str, Node] = {}
    for key, key_node, value in r.pairs(node):
        if key in CASE_KEYS:
            f[key] = value
        else:
            r.unknown_key(key_node, key, CASE_KEYS, "a test case")
    hit = r.boolean(f["hit"], "'hit'") if "hit" in f else None
    if "hit" not in f:
        r.add(
            node,
            "RULE_BAD_TEST",
            "a test case needs 'hit: true' or 'hit: false'",
            "say whether the rule must fire on this span",
        )
    if sum(k in f for k in ("span", "spans", "fixture")) != 1:
        r.add(
            node,
            "RULE_BAD_TEST",
            "a test case needs exactly one of 'span', 'spans' or 'fixture'",
            "give an inline 'span:' mapping, a 'spans:' list (a trace) or a 'fixture:' path",
        )
        return None
    contracts = parse_contracts(f["contracts"], r.path, r.problems) if "contracts" in f else None
    if "fixture" in f:
        name = r.string(f["fixture"], "'fixture'")
        if name is None:
            return None
        path = base / name
        if not path.is_file():
            r.add(
                f["fixture"],
                "RULE_FIXTURE_NOT_FOUND",
                f"no such fixture file: {path}",
                "fixture paths are relative to the rule file",
            )
            return None
        if hit is None:
            return None
        return CaseSpec(hit, r.origin(node), fixture=str(path), contracts=contracts)
    if "spans" in f:
        items = f["spans"].value if isinstance(f["spans"], SequenceNode) else None
        if not items:
            r.add(
                f["spans"],
                "RULE_BAD_TEST",
                "'spans' must be a non-empty list of spans",
                "write '- {name: ..., id: a, parent: root}' entries in start order",
            )
            return None
        spans = [_span(r, item) for item in items]
        if hit is None or any(s is None for s in spans):
            return None
        return CaseSpec(
            hit,
            r.origin(node),
            contracts=contracts,
            spans=tuple(s for s in spans if s is not None),
        )
    span = _span(r, f["span"])
    if span is None or hit is None:
        return None
    return CaseSpec(hit, r.origin(node), span=span, contracts=contracts)


def _span(r: Reader, node: Node) -> TestSpan | None:
    if not isinstance(node, MappingNode):
        r.add(
            node,
            "RULE_BAD_TEST",
            f"'span' must be a mapping, got {kind_name(node)}",
            "write attributes as 'key: value', plus optional name, status, events",
        )
        return None
    name, status, message = "test", "unset", ""
    links = {"id": "", "parent": "", "trace": "t1"}
    attributes: dict[str, AttrValue] = {}
    events: list[tuple[str, Mapping[str, AttrValue]]] = []
    ok = True
    for key, key_node, value in r.pairs(node):
        if key == "name":
            name = r.string(value, "span 'name'") or name
        elif key == "status":
            status = str(r.scalar(value)).lower()
            if status not in STATUSES:
                r.add(
                    value,
                    "RULE_BAD_TEST",
                    f"unknown span status '{status}'",
                    did_you_mean(status, STATUSES),
                )
                ok = False  # read on: the rest of the span may hold more problems
        elif key == "status_message":
            message = r.string(value, "'status_message'") or ""
        elif key in SPAN_LINKS:
            links[key] = r.string(value, f"span '{key}'") or links[key]
        elif key == "events":
            parsed = _events(r, value)
            if parsed is None:
                return None
            events = parsed
        elif _misspelt(r, key, key_node):
            ok = False
        elif (raw := to_python(value)) is not None:
            attributes[key] = _attr(raw)
    if not ok:
        return None
    return TestSpan(
        name,
        status,
        message,
        attributes,
        tuple(events),
        label=links["id"],
        parent=links["parent"],
        trace=links["trace"],
    )


def _misspelt(r: Reader, key: str, key_node: Node) -> bool:
    """A key without a dot close to a span key (`stauts`) is a typo, not an attribute."""
    if "." in key:
        return False
    close = difflib.get_close_matches(key, SPAN_KEYS, n=1, cutoff=0.75)
    # Same length give or take one: `parent_id` is an attribute, `stauts` a typo.
    if not close or close[0] == key or abs(len(close[0]) - len(key)) > 1:
        return False
    r.add(key_node, "RULE_BAD_TEST", f"unknown span key '{key}'", f"did you mean '{close[0]}'?")
    return True


def _events(r: Reader, node: Node) -> list[tuple[str, Mapping[str, AttrValue]]] | None:
    items = node.value if isinstance(node, SequenceNode) else None
    if items is None or not all(isinstance(i, MappingNode) for i in items):
        r.add(
            node,
            "RULE_BAD_TEST",
            "'events' must be a list of mappings",
            "write '- name: gen_ai.evaluation.result' plus the event's attributes",
        )
        return None
    out: list[tuple[str, Mapping[str, AttrValue]]] = []
    for item in items:
        data = to_python(item)
        name = data.pop("name", None)
        if not isinstance(name, str):
            r.add(item, "RULE_BAD_TEST", "an event needs a 'name'", "add 'name: exception'")
            return None
        out.append((name, {str(k): _attr(v) for k, v in data.items()}))
    return out


def _attr(value: Any) -> AttrValue:
    """A YAML value as an OTLP attribute value: lists become tuples, nested maps stay maps."""
    if isinstance(value, list):
        return tuple(_attr(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _attr(v) for k, v in value.items()}
    if isinstance(value, (str, bool, int, float, bytes)):
        return value
    return str(value)
