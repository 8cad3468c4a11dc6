"""Which span rules a span can meet: chosen by its kind and the fields it has.

The compiler records, for each condition, the `span.kind` values it can hold for
(`Matcher.kinds`) and the fields one of which must be present for it to hold
(`Matcher.present`): a rule about `gate.decision` cannot match a span without that
field, and `status: error` cannot match an OK span. Whether a rule can match thus
depends only on the span's kind, whether it is an error and which of those fields it
has. Spans of one shape share that answer, so it is worked out once per shape and
remembered: a span pays a set intersection and a lookup, not a test per rule. The
index only ever leaves out a rule that could not match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spansift.model import Fields
from spansift.rules._needs import ERROR_FIELD
from spansift.rules.compile import CompiledRule

# Shapes remembered at most; past it the memory starts again (odd kinds are unbounded).
MAX_SHAPES = 4096
Shape = tuple[str | None, bool, frozenset[str]]


@dataclass(frozen=True, slots=True)
class _Needs:
    """What a span must show for one rule to be worth testing."""

    kinds: frozenset[str] | None  # span.kind values; None = any
    on_error: bool  # an ERROR status is enough
    names: frozenset[str] | None  # one of these fields present is enough; None = no guard

    def met(self, kind: str | None, error: bool, present: frozenset[str]) -> bool:
        if self.kinds is not None and kind not in self.kinds:
            return False
        if self.names is None:
            return True
        return (self.on_error and error) or not self.names.isdisjoint(present)


def _needs(rule: CompiledRule) -> _Needs:
    present = rule.condition.present
    if present is None:
        return _Needs(rule.kinds, False, None)
    return _Needs(rule.kinds, ERROR_FIELD in present, present - {ERROR_FIELD})


class RuleIndex:
    """Span rules (in load order) narrowed to those a span's shape lets match."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self._rules = tuple((rule, _needs(rule)) for rule in rules)
        self._names = frozenset(
            name for _, needs in self._rules if needs.names is not None for name in needs.names
        )
        self._shapes: dict[Shape, tuple[CompiledRule, ...]] = {}

    def by_kind(self, kind: str | None) -> tuple[CompiledRule, ...]:
        """The rules whose condition can hold for a span of this `span.kind`."""
        return tuple(r for r, n in self._rules if n.kinds is None or kind in n.kinds)

    def candidates(self, fields: Fields) -> tuple[CompiledRule, ...]:
        """The rules that can match a span with these fields."""
        kind = fields.get("span.kind")
        shape = (
            kind if isinstance(kind, str) else None,
            fields.get("status") == "error",
            self._names.intersection(fields),
        )
        found = self._shapes.get(shape)
        if found is None:
            found = tuple(rule for rule, needs in self._rules if needs.met(*shape))
            if len(self._shapes) >= MAX_SHAPES:
                self._shapes.clear()
            self._shapes[shape] = found
        return found
