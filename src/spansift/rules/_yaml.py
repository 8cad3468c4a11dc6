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


MAX_DEPTH = 64  # nested lists and mappings; real rules stay far below it
MAX_NODES = 100_000  # nodes of a document once its aliases are expanded


def compose(
    text: str, path: str, problems: Problems, code: str = "RULE_YAML_SYNTAX"
) -> Node | None:
    """Parse one YAML document into nodes; a syntax error becomes a located problem.

    Documents nested deeper than `MAX_DEPTH`, or whose aliases expand to more than
    `MAX_NODES` nodes (a "billion laughs" file of a few hundred bytes), are refused
    with a located problem before anything walks them.
    """
    prefix = code.split("_", 1)[0]  # RULE or CONTRACT
    try:
        deep = _too_deep(text)
        if deep is not None:
            problems.add(
                _origin(path, deep), f"{prefix}_TOO_DEEP",
                f"nesting deeper than {MAX_DEPTH} levels",
                "flatten the structure; rules never need this depth",
            )  # fmt: skip
            return None
        node: Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        origin = _origin(path, mark) if mark else Origin(path)
        reason = exc.problem or exc.context or "invalid YAML"
        problems.add(origin, code, f"invalid YAML: {reason}", "fix the YAML syntax at this place")
        return None
    except yaml.YAMLError as exc:
        problems.add(Origin(path), code, f"invalid YAML: {exc}", "fix the YAML syntax")
        return None
    big = _expands_too_far(node) if node is not None else None
    if big is not None:
        problems.add(
            origin_of(path, big), f"{prefix}_ALIAS_EXPANSION",
            f"aliases expand this document to more than {MAX_NODES:,} nodes",
            "use fewer nested aliases (*name); write lists out or use a named list",
        )  # fmt: skip
        return None
    return node


def _origin(path: str, mark: yaml.Mark) -> Origin:
    return Origin(path, mark.line + 1, mark.column + 1)


def _too_deep(text: str) -> yaml.Mark | None:
    """Where nesting first passes `MAX_DEPTH`; the event parser does not recurse."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                mark: yaml.Mark = event.start_mark  # type: ignore[assignment]
                return mark
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1
    return None


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _expands_too_far(root: Node) -> Node | None:
    """The first node whose alias-expanded size passes `MAX_NODES`, or None.

    An alias shares its anchor's node, so the document is a DAG: sizes are computed
    once per node (iteratively), however many times aliases repeat it.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if expanded:
            size = sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
            if size > MAX_NODES:
                return node
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return None


def read_text(path: Path, shown: str, problems: Problems, code: str) -> str | None:
    """A file's text, or a problem saying it cannot be read (invalid UTF-8 is located)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        problems.add(Origin(shown), code, f"no such file: {shown}", "check the path")
        return None
    except OSError as exc:
        unreadable = code.replace("NOT_FOUND", "UNREADABLE")
        problems.add(Origin(shown), unreadable, f"cannot read {shown}: {exc.strerror or exc}",
                     "check the file's permissions")  # fmt: skip
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        problems.add(
            Origin(shown, line, column), code.replace("FILE_NOT_FOUND", "ENCODING"),
            f"invalid UTF-8 (byte 0x{data[exc.start]:02x})", "save the file as UTF-8",
        )  # fmt: skip
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
