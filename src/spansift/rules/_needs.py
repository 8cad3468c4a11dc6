"""What a condition needs to see on a span, for skipping work before evaluating it.

Two views of the same question, computed while compiling: `needs` in terms of what
the OTLP fast path can test on raw protobuf (status, events, attribute keys, value
tests on the name or a raw key; see `normalize.field_needs`), and `present` in
terms of canonical fields (for the rule set's per-rule guards). For a conjunction
either part's needs will do; for a disjunction every part's are needed; a negation
needs nothing in particular.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spansift.model import ValueTest
from spansift.normalize import DIRECT_KEYS, NAME, name_fields
from spansift.rules.operators import Predicate

# Atoms of `normalize.field_needs` plus value tests.
Needs = frozenset[str | ValueTest]


def value_tests(
    field: str, needs: frozenset[str] | None, predicate: Predicate, text: str
) -> Needs | None:
    """Sharpen atoms into `ValueTest`s: the field's predicate run on the span name
    (for the NAME atom) or on a raw value that is the field's value unchanged."""
    if needs is None:
        return None

    def on_name(name: Any) -> bool:
        try:
            return predicate(name_fields(name), {})
        except Exception:  # undecidable here: let the span through to the full rules
            return True

    def on_value(value: Any) -> bool:
        try:
            return predicate({field: value}, {})
        except Exception:
            return True

    out: set[str | ValueTest] = set()
    direct = DIRECT_KEYS.get(field, ())
    for atom in needs:
        if atom == NAME:
            out.add(ValueTest(None, on_name, text))
        elif atom.startswith("key:") and atom[4:] in direct:
            out.add(ValueTest(atom[4:], on_value, text))
        else:
            out.add(atom)
    return frozenset(out)


ERROR_FIELD = "status=error"


def present_fields(field: str, accepted: tuple[object, ...] | None = None) -> frozenset[str] | None:
    """The fields a presence-requiring test on `field` needs (None: any span has it)."""
    if field == "status":
        if accepted and all(str(v).lower() == "error" for v in accepted):
            return frozenset({ERROR_FIELD})
        return None
    if field.startswith("contract.") or field in ("span.name", "span.kind", "step", "workflow"):
        return None
    return frozenset({field})


def without_name(needs: frozenset[str] | None) -> frozenset[str] | None:
    return None if needs is None or NAME in needs else needs


def narrowest(options: Sequence[Any]) -> Any:
    """For a conjunction any part's needs will do; the fewest atoms filter best."""
    known = [n for n in options if n is not None]
    return min(known, key=len) if known else None
