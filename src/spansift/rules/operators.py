"""The field modifiers of the rule language: one table from YAML word to predicate builder.

Every builder runs once, at compile time, and returns a closure over precomputed
frozensets or compiled re2 patterns. Values compare loosely on purpose: `500`
equals `"500"` and `true` equals `"true"`, because instrumentations disagree on
attribute types. A tuple-valued field (an OTLP array) matches when any element does.
A field that is absent never matches, except under `exists: false`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import re2

from spansift.model import AttrValue, Fields

# Reads one field from the span's fields or from the matched contract's fields.
Getter = Callable[[Fields, Fields], Any]
Predicate = Callable[[Fields, Fields], bool]
_PLAIN = re.compile(r"[A-Za-z0-9_.:/@*+-]+")


@dataclass(frozen=True, slots=True)
class Operator:
    """A modifier: what its YAML value must be and how it compiles."""

    name: str
    arg: str  # values | text | regex | bool | number | field
    build: Callable[[Getter, Any, bool], tuple[Predicate, str]]


def key_of(value: Any, ignore_case: bool = False) -> str | None:
    """The comparison key of a scalar, shared by rule values and field values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value.lower() if ignore_case else value
    return None


def _keys(value: Any, ignore_case: bool) -> Iterable[str]:
    if isinstance(value, tuple):
        return [k for k in (key_of(v, ignore_case) for v in value) if k is not None]
    key = key_of(value, ignore_case)
    return () if key is None else (key,)


def _texts(value: Any, ignore_case: bool) -> Iterable[str]:
    return _keys(value, ignore_case)


def number_of(value: Any) -> float | int | None:
    """A field value as a number, or None (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and len(value) < 64:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def show(value: Any) -> str:
    """A rule value as it reads in `explain` output."""
    if isinstance(value, tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, str) and _PLAIN.fullmatch(value):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _membership(get: Getter, values: Any, ignore_case: bool, negate: bool) -> Predicate:
    wanted = frozenset(k for k in _keys(values, ignore_case))

    def test(f: Fields, c: Fields) -> bool:
        value = get(f, c)
        if value is None:
            return False
        if type(value) is str and not ignore_case:
            return (value in wanted) != negate
        found = any(k in wanted for k in _keys(value, ignore_case))
        return found != negate

    return test


def _equals(get: Getter, value: Any, ic: bool) -> tuple[Predicate, str]:
    op = "==" if len(value) == 1 else "in"
    shown = show(value[0]) if len(value) == 1 else show(value)
    return _membership(get, value, ic, False), f"{op}{'~' if ic else ''} {shown}"


def _in(get: Getter, value: Any, ic: bool) -> tuple[Predicate, str]:
    return _membership(get, value, ic, False), f"in{'~' if ic else ''} {show(value)}"


def _not_in(get: Getter, value: Any, ic: bool) -> tuple[Predicate, str]:
    return _membership(get, value, ic, True), f"not in{'~' if ic else ''} {show(value)}"


def _text_op(name: str, check: Callable[[str, str], bool]) -> Operator:
    def build(get: Getter, value: Any, ic: bool) -> tuple[Predicate, str]:
        needles = tuple(n.lower() if ic else n for n in value)

        def test(f: Fields, c: Fields) -> bool:
            field = get(f, c)
            if field is None:
                return False
            return any(check(t, n) for t in _texts(field, ic) for n in needles)

        shown = show(value[0]) if len(value) == 1 else show(value)
        return test, f"{name}{'~' if ic else ''} {shown}"

    return Operator(name, "texts", build)


def compile_regex(pattern: str, ignore_case: bool) -> Any:
    """A linear-time re2 pattern; raises re2.error when the pattern is invalid."""
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    return re2.compile(pattern, options)


# Values matched against a regex are mostly names (span, tool, agent) that repeat from
# span to span; short ones are memoized per pattern, long ones always searched.
_MEMO_CHARS = 256
_MEMO_ENTRIES = 4096


def _matches(get: Getter, value: Any, ic: bool) -> tuple[Predicate, str]:
    search = compile_regex(value, ic).search

    @functools.lru_cache(maxsize=_MEMO_ENTRIES)
    def found(text: str) -> bool:
        return search(text) is not None

    def one(text: str) -> bool:
        return found(text) if len(text) <= _MEMO_CHARS else search(text) is not None

    def test(f: Fields, c: Fields) -> bool:
        field = get(f, c)
        if field is None:
            return False
        if type(field) is str:
            return one(field)
        return any(one(t) for t in _texts(field, False))

    return test, f"=~ /{value}/{'i' if ic else ''}"


def _exists(get: Getter, value: Any, ic: bool) -> tuple[Predicate, str]:
    want = bool(value)

    def test(f: Fields, c: Fields) -> bool:
        return (get(f, c) is not None) == want

    return test, "exists" if want else "missing"


def _compare(symbol: str, check: Callable[[float, float], bool]) -> Callable[..., Any]:
    def build(get: Getter, value: Any, ic: bool) -> tuple[Predicate, str]:
        def test(f: Fields, c: Fields) -> bool:
            number = number_of(get(f, c))
            return number is not None and check(number, value)

        return test, f"{symbol} {show(value)}"

    return build


def _field_compare(symbol: str, check: Callable[[Any, Any], bool]) -> Callable[..., Any]:
    def build(get: Getter, other: Getter, ic: bool) -> tuple[Predicate, str]:
        def test(f: Fields, c: Fields) -> bool:
            mine = get(f, c)
            theirs = other(f, c)
            if mine is None or theirs is None:
                return False
            return check(mine, theirs)

        return test, symbol

    return build


@functools.lru_cache(maxsize=4096)  # tool and agent names repeat from span to span
def name_key(text: str) -> str:
    """A name as compared with a contract's: `Search Docs`, `search-docs` and `search_docs`
    are one tool (frameworks rename tools for the model; people write them either way)."""
    return _SEPARATORS.sub("_", text.strip().lower())


_SEPARATORS = re.compile(r"[\s\-]+")


def _same(a: AttrValue, b: AttrValue, ic: bool = False) -> bool:
    """Whether two fields share a value, names compared loosely (see `name_key`)."""
    return not {name_key(k) for k in _keys(a, ic)}.isdisjoint(name_key(k) for k in _keys(b, ic))


def _num_check(check: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def run(a: Any, b: Any) -> bool:
        x, y = number_of(a), number_of(b)
        return x is not None and y is not None and check(x, y)

    return run


_GT: Callable[[float, float], bool] = lambda a, b: a > b  # noqa: E731
_GE: Callable[[float, float], bool] = lambda a, b: a >= b  # noqa: E731
_LT: Callable[[float, float], bool] = lambda a, b: a < b  # noqa: E731
_LE: Callable[[float, float], bool] = lambda a, b: a <= b  # noqa: E731

OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("equals", "values", _equals),
        Operator("in", "values", _in),
        Operator("not_in", "values", _not_in),
        _text_op("contains", lambda text, needle: needle in text),
        _text_op("startswith", str.startswith),
        _text_op("endswith", str.endswith),
        Operator("matches", "regex", _matches),
        Operator("exists", "bool", _exists),
        Operator("gt", "number", _compare(">", _GT)),
        Operator("gte", "number", _compare(">=", _GE)),
        Operator("lt", "number", _compare("<", _LT)),
        Operator("lte", "number", _compare("<=", _LE)),
        Operator("equals_field", "field", _field_compare("==", _same)),
        Operator("in_field", "field", _field_compare("in", _same)),
        Operator("not_in_field", "field", _field_compare("not in", lambda a, b: not _same(a, b))),
        Operator("gt_field", "field", _field_compare(">", _num_check(_GT))),
        Operator("gte_field", "field", _field_compare(">=", _num_check(_GE))),
        Operator("lt_field", "field", _field_compare("<", _num_check(_LT))),
        Operator("lte_field", "field", _field_compare("<=", _num_check(_LE))),
    )
}
# Options that change how the other modifiers in the same mapping compare.
OPTIONS = ("ignore_case",)
