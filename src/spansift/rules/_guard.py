"""Field guards: skip a span rule in a few lookups when the span lacks every field it needs.

The compiler records, for each condition, the fields one of which must be present
for it to hold (`Matcher.present`): a rule about `gate.decision` cannot match a
span without that field, and `status: error` cannot match an OK span. Testing
that first is far cheaper than evaluating the condition (regexes, lists, nesting).
A guard only ever skips a rule that could not match.
"""

from __future__ import annotations

from collections.abc import Callable

from spansift.model import Fields
from spansift.rules._needs import ERROR_FIELD

Guard = Callable[[Fields], bool]


def field_guard(present: frozenset[str] | None) -> Guard | None:
    """A test false only for fields lacking everything in `present`; None = no guard."""
    if present is None:
        return None
    on_error = ERROR_FIELD in present
    names = tuple(sorted(present - {ERROR_FIELD}))

    def guard(fields: Fields) -> bool:
        if on_error and fields.get("status") == "error":
            return True
        return any(name in fields for name in names)

    return guard
