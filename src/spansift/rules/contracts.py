"""Agent contracts: which tools an agent may use, which need approval, and its budget.

A contracts file maps agent names to contracts. A record's `agent.name` (the agent
in effect, see `spansift.runs`) picks one: the exact name first, then glob
patterns in file order, then `*`. The matched contract reaches rule conditions as
the `contract.*` fields. The file also says which tools and agents hand work to a
person (`handoff_to_human`) and how an app's own attributes read as canonical
fields (`signals`, see `_signals`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from spansift.model import AttrValue, Origin, Signal
from spansift.rules._signals import parse_names, parse_signals
from spansift.rules._yaml import (
    MappingNode,
    Node,
    Problems,
    ScalarNode,
    SequenceNode,
    compose,
    did_you_mean,
    kind_name,
    origin_of,
    pairs,
    read_text,
    to_python,
)
from spansift.rules.operators import name_key

CONTRACT_FIELDS = (
    "contract.agent",
    "contract.owner",
    "contract.workflow",
    "contract.tools.allowed",
    "contract.tools.require_approval",
    "contract.budget.tokens_per_run",
    "contract.budget.tool_calls_per_run",
)
_TOP_KEYS = ("agents", "handoff_to_human", "signals")
# Sections read elsewhere: spansift.review (owners, webhooks), spansift.evidence (redaction).
_OTHER_KEYS = ("owners", "webhooks", "redaction")
_AGENT_KEYS = ("owner", "workflow", "tools", "budget", "handoff_to_human")
_TOOLS_KEYS = ("allowed", "require_approval", "high_impact")
_BUDGET_KEYS = ("tokens_per_run", "tool_calls_per_run")
_CACHE_LIMIT = 4096  # agent names are few; the bound only guards against odd input


@dataclass(frozen=True, slots=True)
class Contract:
    """One agent's contract as written under `agents:`; `allowed=None` means no tool list."""

    agent: str
    origin: Origin
    owner: str | None = None
    workflow: str | None = None
    handoff_to_human: tuple[str, ...] = ()
    allowed: tuple[str, ...] | None = None
    require_approval: tuple[str, ...] = ()
    high_impact: tuple[str, ...] = ()  # standing grants for these need two approvers
    tokens_per_run: int | None = None
    tool_calls_per_run: int | None = None

    def as_fields(self) -> dict[str, AttrValue]:
        """The `contract.*` fields rules see; unset parts are absent."""
        out: dict[str, AttrValue] = {"contract.agent": self.agent}
        if self.owner is not None:
            out["contract.owner"] = self.owner
        if self.workflow is not None:
            out["contract.workflow"] = self.workflow
        if self.allowed is not None:
            out["contract.tools.allowed"] = self.allowed
        out["contract.tools.require_approval"] = self.require_approval
        if self.tokens_per_run is not None:
            out["contract.budget.tokens_per_run"] = self.tokens_per_run
        if self.tool_calls_per_run is not None:
            out["contract.budget.tool_calls_per_run"] = self.tool_calls_per_run
        return out


class Contracts:
    """All contracts of one file, indexed for lookup by agent name. Not changed after init."""

    def __init__(
        self,
        contracts: tuple[Contract, ...],
        *,
        handoff_to_human: tuple[str, ...] = (),
        signals: tuple[Signal, ...] = (),
    ) -> None:
        self.contracts = contracts
        self.handoff_to_human = frozenset(name_key(n) for n in handoff_to_human)
        self.signals = signals
        self._exact = {c.agent: c for c in contracts if not _is_pattern(c.agent)}
        # `Support Agent` finds `support-agent`: frameworks turn names into identifiers.
        self._loose = {name_key(c.agent): c for c in contracts if not _is_pattern(c.agent)}
        self._patterns = tuple(c for c in contracts if _is_pattern(c.agent) and c.agent != "*")
        self._default = next((c for c in contracts if c.agent == "*"), None)
        self._cache: dict[str, tuple[Contract | None, Mapping[str, AttrValue]]] = {}

    def __len__(self) -> int:
        return len(self.contracts)

    def __bool__(self) -> bool:
        return bool(self.contracts or self.handoff_to_human or self.signals)

    def hands_to_human(self, target: str, agent: str | None) -> bool:
        """Whether a handoff to `target` (a tool or agent name) by `agent` reaches a person."""
        key = name_key(target)
        if key in self.handoff_to_human:
            return True
        contract = self.for_agent(agent)
        return contract is not None and key in {name_key(n) for n in contract.handoff_to_human}

    def for_agent(self, name: str | None) -> Contract | None:
        """The contract for an agent name; a span without a name gets only the `*` default."""
        if name is None:
            return self._default
        exact = self._exact.get(name) or self._loose.get(name_key(name))
        if exact is not None:
            return exact
        for contract in self._patterns:
            if fnmatch.fnmatchcase(name, contract.agent):
                return contract
        return self._default

    def lookup(self, name: object) -> tuple[Contract | None, Mapping[str, AttrValue]]:
        """The contract for a field value and its `contract.*` fields, memoized per name."""
        key = name if isinstance(name, str) else None
        if key is None:
            contract = self._default
            return contract, (contract.as_fields() if contract else {})
        hit = self._cache.get(key)
        if hit is None:
            contract = self.for_agent(key)
            hit = (contract, contract.as_fields() if contract else {})
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[key] = hit
        return hit


def _is_pattern(name: str) -> bool:
    return any(ch in name for ch in "*?[")


def load_contracts(source: str | Path | Mapping[str, object], problems: Problems) -> Contracts:
    """Contracts from a YAML file or an already parsed mapping; problems are collected."""
    if isinstance(source, Mapping):
        text = yaml.safe_dump(dict(source), sort_keys=False)
        return parse_contracts(
            compose(text, "<contracts>", problems, "CONTRACT_YAML_SYNTAX"), "<contracts>", problems
        )
    shown = str(source)
    read = read_text(Path(source), shown, problems, "CONTRACT_FILE_NOT_FOUND")
    if read is None:
        return Contracts(())
    node = compose(read, shown, problems, "CONTRACT_YAML_SYNTAX")
    return parse_contracts(node, shown, problems)


def parse_contracts(node: Node | None, path: str, problems: Problems) -> Contracts:
    """Contracts from a composed `agents:` mapping."""
    if node is None:
        return Contracts(())
    if not isinstance(node, MappingNode):
        _bad(problems, path, node, "the contracts file", "a mapping with an 'agents:' key")
        return Contracts(())
    agents: list[Contract] = []
    found = False
    humans: tuple[str, ...] = ()
    signals: tuple[Signal, ...] = ()
    for key, key_node, value in pairs(path, node, problems):
        if key in _OTHER_KEYS:
            found = True  # a spansift.yaml of owners or webhooks alone holds no contracts
            continue
        if key == "handoff_to_human":
            found = True
            humans = parse_names(path, value, problems, "'handoff_to_human'")
            continue
        if key == "signals":
            found = True
            signals = parse_signals(path, value, problems)
            continue
        if key != "agents":
            _unknown(problems, path, node=key_node, key=key, valid=_TOP_KEYS, what="the top level")
            continue
        found = True
        if not isinstance(value, MappingNode):
            _bad(problems, path, value, "'agents'", "a mapping of agent name to contract")
            continue
        for name, name_node, body in pairs(path, value, problems):
            contract = _agent(path, name, name_node, body, problems)
            if contract is not None:
                agents.append(contract)
    if not found:
        problems.add(
            origin_of(path, node),
            "CONTRACT_MISSING_KEY",
            "a contracts file needs 'agents:', 'handoff_to_human:' or 'signals:'",
            "write 'agents:' with one entry per agent name (or '*')",
        )
    return Contracts(tuple(agents), handoff_to_human=humans, signals=signals)


def _agent(
    path: str, name: str, name_node: Node, body: Node, problems: Problems
) -> Contract | None:
    origin = origin_of(path, name_node)
    if not name:
        _bad(problems, path, name_node, "an agent name", "a non-empty string")
        return None
    if isinstance(body, ScalarNode) and to_python(body) is None:
        return Contract(agent=name, origin=origin)
    if not isinstance(body, MappingNode):
        _bad(problems, path, body, f"contract of '{name}'", "a mapping (owner, tools, budget)")
        return None
    values: dict[str, object] = {}
    for key, key_node, value in pairs(path, body, problems):
        if key in ("owner", "workflow"):
            values[key] = _string(path, value, problems, f"'{name}' {key}")
        elif key == "handoff_to_human":
            values[key] = parse_names(path, value, problems, f"'{name}' handoff_to_human")
        elif key == "tools":
            values.update(_section(path, value, problems, _TOOLS_KEYS, f"'{name}' tools"))
        elif key == "budget":
            values.update(_section(path, value, problems, _BUDGET_KEYS, f"'{name}' budget"))
        else:
            _unknown(
                problems,
                path,
                node=key_node,
                key=key,
                valid=_AGENT_KEYS,
                what=f"contract '{name}'",
            )
    # A tool may need approval and be outside `allowed` at once: running it is then both a
    # wrong tool and, without an approval, a bypass. Contracts say what must hold, not how.
    return Contract(agent=name, origin=origin, **values)  # type: ignore[arg-type]


def _section(
    path: str, node: Node, problems: Problems, keys: tuple[str, ...], what: str
) -> dict[str, object]:
    out: dict[str, object] = {}
    if not isinstance(node, MappingNode):
        _bad(problems, path, node, what, "a mapping with " + ", ".join(keys))
        return out
    for key, key_node, value in pairs(path, node, problems):
        if key not in keys:
            _unknown(problems, path, node=key_node, key=key, valid=keys, what=what)
        elif key in _BUDGET_KEYS:
            number = to_python(value) if isinstance(value, ScalarNode) else None
            if isinstance(number, int) and not isinstance(number, bool) and number > 0:
                out[key] = number
            else:
                shown = repr(number) if isinstance(value, ScalarNode) else kind_name(value)
                problems.add(
                    origin_of(path, value),
                    "CONTRACT_BAD_BUDGET",
                    f"{what}.{key} must be a positive whole number, got {shown}",
                    f"write e.g. '{key}: 20000'",
                )
        else:
            out[key] = _names(path, value, problems, f"{what}.{key}")
    return out


def _names(path: str, node: Node, problems: Problems, what: str) -> tuple[str, ...]:
    if not isinstance(node, SequenceNode):
        _bad(problems, path, node, what, "a list of tool names")
        return ()
    names: list[str] = []
    for item in node.value:
        name = _string(path, item, problems, f"an entry of {what}")
        if name is not None:
            names.append(name)
    return tuple(names)


def _string(path: str, node: Node, problems: Problems, what: str) -> str | None:
    value = to_python(node) if isinstance(node, ScalarNode) else None
    if isinstance(value, str) and value:
        return value
    _bad(problems, path, node, what, "a non-empty string")
    return None


def _bad(problems: Problems, path: str, node: Node, what: str, expected: str) -> None:
    problems.add(
        origin_of(path, node),
        "CONTRACT_BAD_VALUE",
        f"{what} must be {expected}, got {kind_name(node)}",
        f"write {expected} here",
    )


def _unknown(
    problems: Problems, path: str, *, node: Node, key: str, valid: tuple[str, ...], what: str
) -> None:
    problems.add(
        origin_of(path, node),
        "CONTRACT_UNKNOWN_KEY",
        f"unknown key '{key}' in {what}",
        did_you_mean(key, valid),
    )
