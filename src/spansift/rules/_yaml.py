"""YAML nodes with real positions, and a collector for the problems found in them.

Files are composed (not loaded) so that every value keeps its 1-based line and
column; the loaders walk the node tree and turn values into typed data.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from spansift.errors import Problem
from spansift.model import Origin

# Re-exported so the loaders import nodes and helpers from one place.
__all__ = [
    "MappingNode",
    "Node",
    "Problems",
    "Reader",
    "ScalarNode",
    "SequenceNode",
    "compose",
    "did_you_mean",
    "kind_name",
    "origin_of",
    "pairs",
    "read_text",
    "to_python",
]


class Problems:
    """Collects every problem found while loading, so all of them are reported at once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, origin: Origin, code: str, message: str, hint: str = "") -> None:
        self.items.append(Problem(origin, code, message, hint))

    def __bool__(self) -> bool:
        return bool(self.items)

    def in_order(self) -> tuple[Problem, ...]:
        """The problems by file (in the order files were read), then line and column.

        Loading runs in stages (parse each file, then compile across files), so the
        order found is not the order a reader fixes them in.
        """
        files: dict[str, int] = {}
        for problem in self.items:
            files.setdefault(problem.origin.path, len(files))
        return tuple(
            sorted(
                self.items,
                key=lambda p: (files[p.origin.path], p.origin.line, p.origin.col),
            )
        )


def origin_of(path: str, node: Node) -> Origin:
    """The 1-based position where a node starts."""
    mark = node.start_mark
    return Origin(path, mark.line + 1, mark.column + 1)


def compose(
    text: str, path: str, problems: Problems, code: str = "RULE_YAML_SYNTAX"
) -> Node | None:
    """Parse one YAML document into nodes; a syntax error becomes a located problem."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        origin = Origin(path, mark.line + 1, mark.column + 1) if mark else Origin(path)
        reason = exc.problem or exc.context or "invalid YAML"
        problems.add(origin, code, f"invalid YAML: {reason}", "fix the YAML syntax at this place")
    except yaml.YAMLError as exc:
        problems.add(Origin(path), code, f"invalid YAML: {exc}", "fix the YAML syntax")
    return None


def read_text(path: Path, shown: str, problems: Problems, code: str) -> str | None:
    """A file's text, or a problem saying it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.add(Origin(shown), code, f"no such file: {shown}", "check the path")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(Origin(shown), code, f"cannot read {shown}: {exc}", "check the file")
    return None


def pairs(path: str, node: MappingNode, problems: Problems) -> Iterator[tuple[str, Node, Node]]:
    """Key text, key node and value node of a mapping; duplicate keys are reported."""
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = str(key_node.value) if isinstance(key_node, ScalarNode) else ""
        if key in seen:
            problems.add(
                origin_of(path, key_node),
                "RULE_DUPLICATE_KEY",
                f"key '{key}' appears twice in the same mapping",
                "YAML keeps only the last one; merge the two entries",
            )
            continue
        seen.add(key)
        yield key, key_node, value_node


def to_python(node: Node) -> Any:
    """The plain Python value of a node (safe types only)."""
    return SafeConstructor().construct_object(node, deep=True)


def did_you_mean(word: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str:
    """A hint naming the closest choice, or listing the valid ones when none is close."""
    options = sorted(set(choices))
    if not options:
        return ""
    close = difflib.get_close_matches(word, options, n=1, cutoff=cutoff)
    if close:
        return f"did you mean '{close[0]}'?"
    if len(options) <= 12:
        return "valid: " + ", ".join(options)
    return ""


def kind_name(node: Node) -> str:
    """How a node reads to a user: 'a mapping', 'a list', 'a string' ..."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = to_python(node)
    if value is None:
        return "nothing"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(
        type(value), f"a {type(value).__name__}"
    )


class Reader:
    """Walks the nodes of one file, reporting problems with that file's positions."""

    def __init__(self, path: str, problems: Problems) -> None:
        self.path = path
        self.problems = problems
        # Parts of conditions that parsed inside one that did not: the loader hands them to
        # the compiler, which reports their unknown lists and macros in the same pass.
        self.salvaged: list[Any] = []

    def origin(self, node: Node) -> Origin:
        return origin_of(self.path, node)

    def add(self, node: Node, code: str, message: str, hint: str = "") -> None:
        self.problems.add(self.origin(node), code, message, hint)

    def pairs(self, node: MappingNode) -> Iterator[tuple[str, Node, Node]]:
        return pairs(self.path, node, self.problems)

    def scalar(self, node: Node) -> Any:
        """The value of a scalar node; `...` (Ellipsis) marks a list or mapping."""
        return to_python(node) if isinstance(node, ScalarNode) else ...

    def string(self, node: Node, what: str) -> str | None:
        value = self.scalar(node)
        if isinstance(value, str) and value.strip():
            return value
        self.add(
            node,
            "RULE_BAD_VALUE",
            f"{what} must be a non-empty string, got {kind_name(node)}",
            f"write {what} as text",
        )
        return None

    def boolean(self, node: Node, what: str) -> bool | None:
        value = self.scalar(node)
        if isinstance(value, bool):
            return value
        self.add(
            node,
            "RULE_BAD_VALUE",
            f"{what} must be true or false, got {kind_name(node)}",
            "write true or false",
        )
        return None

    def strings(self, node: Node, what: str) -> tuple[str, ...]:
        if not isinstance(node, SequenceNode):
            self.add(
                node,
                "RULE_BAD_VALUE",
                f"{what} must be a list of strings, got {kind_name(node)}",
                f"write {what} as [a, b]",
            )
            return ()
        out = (self.string(item, f"an entry of {what}") for item in node.value)
        return tuple(s for s in out if s is not None)

    def unknown_key(self, node: Node, key: str, valid: Iterable[str], what: str) -> None:
        self.add(
            node, "RULE_UNKNOWN_KEY", f"unknown key '{key}' in {what}", did_you_mean(key, valid)
        )
