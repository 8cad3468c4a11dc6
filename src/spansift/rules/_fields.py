"""Which field names a rule may use: canonical fields, `contract.*`, and raw attribute keys."""

from __future__ import annotations

import difflib

from spansift import attrs
from spansift.rules._closed import own_namespace_hint
from spansift.rules._yaml import did_you_mean
from spansift.rules.contracts import CONTRACT_FIELDS

CANONICAL = frozenset(attrs.CANONICAL_FIELDS)
CONTRACT = frozenset(CONTRACT_FIELDS)
# Raw keys spansift itself knows, which are allowed even when they look like a canonical name.
KNOWN_RAW = frozenset(
    value
    for name, value in vars(attrs).items()
    if name.isupper() and isinstance(value, str) and "." in value
)
# How close a dotted name must be to a canonical one to count as a misspelling of it.
_MISSPELT = 0.85


def is_raw(name: str) -> bool:
    """True for a field read straight from span attributes (compact records keep it for rules)."""
    return name not in CANONICAL and not name.startswith("contract.")


def field_hint(name: str) -> str | None:
    """None when a field name is usable; otherwise the hint for the RULE_UNKNOWN_FIELD problem."""
    if name in CANONICAL or name in CONTRACT or name in KNOWN_RAW:
        return None
    if name.startswith("contract."):
        return did_you_mean(name, CONTRACT_FIELDS)
    own = own_namespace_hint(name)
    if own is not None:
        return own
    close = difflib.get_close_matches(name, sorted(CANONICAL), n=1, cutoff=_MISSPELT)
    if close:
        return f"did you mean '{close[0]}'?"
    if "." in name and name.strip() == name:
        return None
    close = difflib.get_close_matches(name, sorted(CANONICAL), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'? (raw attribute keys contain a dot)"
    return "use a canonical field such as 'tool.name', or a raw attribute key with a dot"
