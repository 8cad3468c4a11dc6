"""The `signals:` and `handoff_to_human:` parts of a contracts file.

signals:                                 # canonical field: the app's attribute key
  gate.decision: app.approval.status
  guardrail.result: {key: acme.guard.verdict, values: {flagged: blocked, clean: passed}}
handoff_to_human: [escalate_to_human, human_desk]
"""

from __future__ import annotations

from spansift import attrs
from spansift.model import Signal
from spansift.normalize._values import canonical_value
from spansift.rules._yaml import (
    MappingNode,
    Node,
    Problems,
    ScalarNode,
    SequenceNode,
    did_you_mean,
    kind_name,
    origin_of,
    pairs,
    to_python,
)

# Canonical fields an app may feed: the signals, not the structure spansift derives itself.
SIGNAL_FIELDS = tuple(
    f
    for f in attrs.CANONICAL_FIELDS
    if f.split(".")[0] in {"gate", "human", "guardrail", "policy", "handoff", "limit", "tool",
                            "agent", "error", "usage", "evaluation"}
    or f in {"workflow", "step", "session.id", "user.id"}
)  # fmt: skip
_SPEC_KEYS = ("key", "values")


def parse_signals(path: str, node: Node, problems: Problems) -> tuple[Signal, ...]:
    """The signals mapping; every problem is collected with its position."""
    if not isinstance(node, MappingNode):
        problems.add(
            origin_of(path, node),
            "CONTRACT_BAD_VALUE",
            "'signals' must be a mapping of canonical field to attribute key, "
            f"got {kind_name(node)}",
            "write e.g. 'gate.decision: app.approval.status'",
        )
        return ()
    out: list[Signal] = []
    for field, field_node, value in pairs(path, node, problems):
        if field not in SIGNAL_FIELDS:
            problems.add(
                origin_of(path, field_node),
                "CONTRACT_UNKNOWN_SIGNAL",
                f"'{field}' is not a canonical field a signal can set",
                did_you_mean(field, SIGNAL_FIELDS),
            )
            continue
        signal = _signal(path, field, value, problems)
        if signal is not None:
            out.append(signal)
    return tuple(out)


def _signal(path: str, field: str, node: Node, problems: Problems) -> Signal | None:
    if isinstance(node, ScalarNode):
        key = to_python(node)
        if isinstance(key, str) and key:
            return Signal(field, key)
    elif isinstance(node, MappingNode):
        found: dict[str, Node] = {}
        for key, key_node, value in pairs(path, node, problems):
            if key in _SPEC_KEYS:
                found[key] = value
            else:
                problems.add(
                    origin_of(path, key_node),
                    "CONTRACT_UNKNOWN_KEY",
                    f"unknown key '{key}' in signal '{field}'",
                    did_you_mean(key, _SPEC_KEYS),
                )
        attr = to_python(found["key"]) if isinstance(found.get("key"), ScalarNode) else None
        if isinstance(attr, str) and attr:
            values = _values(path, field, found.get("values"), problems)
            if isinstance(values, bool):
                return None  # the value map had a problem, already reported
            return Signal(field, attr, values or None)
    problems.add(
        origin_of(path, node),
        "CONTRACT_BAD_VALUE",
        f"signal '{field}' must name an attribute key, got {kind_name(node)}",
        f"write '{field}: app.some.key' or '{field}: {{key: app.some.key, values: {{...}}}}'",
    )
    return None


def _values(
    path: str, field: str, node: Node | None, problems: Problems
) -> dict[str, str] | bool | None:
    """The value map (app word -> canonical value), checked against the closed set."""
    if node is None:
        return None
    if not isinstance(node, MappingNode):
        problems.add(
            origin_of(path, node),
            "CONTRACT_BAD_VALUE",
            f"'values' of signal '{field}' must be a mapping, got {kind_name(node)}",
            "write e.g. 'values: {flagged: blocked, clean: passed}'",
        )
        return False
    closed = attrs.CLOSED_VALUES.get(field)
    out: dict[str, str] = {}
    ok = True
    for raw, _, target_node in pairs(path, node, problems):
        target = to_python(target_node) if isinstance(target_node, ScalarNode) else None
        value = canonical_value(field, target) if isinstance(target, str) else None
        if closed is not None and (value is None or value not in closed):
            problems.add(
                origin_of(path, target_node),
                "CONTRACT_BAD_SIGNAL_VALUE",
                f"signal '{field}' cannot be {target!r}",
                "valid: " + ", ".join(sorted(closed)),
            )
            ok = False
            continue
        out[str(raw).strip().lower()] = value if value is not None else str(target)
    return out if ok else False


def parse_names(path: str, node: Node, problems: Problems, what: str) -> tuple[str, ...]:
    """A list of names (tools or agents)."""
    if isinstance(node, SequenceNode):
        names = [to_python(item) for item in node.value if isinstance(item, ScalarNode)]
        if len(names) == len(node.value) and all(isinstance(n, str) and n for n in names):
            return tuple(names)
    problems.add(
        origin_of(path, node),
        "CONTRACT_BAD_VALUE",
        f"{what} must be a list of names, got {kind_name(node)}",
        "write e.g. '[escalate_to_human, human_desk]'",
    )
    return ()
