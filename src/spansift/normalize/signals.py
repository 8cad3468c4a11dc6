"""App-recorded signals: a contracts file's `signals:` mapping applied to one span.

An app that writes `app.approval.status=denied` on its own span, and a contracts
file saying `gate.decision: app.approval.status`, give that span `gate.decision =
denied` and, unless a convention already gave it a kind, `span.kind = gate`. The
app's words go through the same synonyms as every framework's (`_values`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spansift.model import Signal
from spansift.normalize._util import Out
from spansift.normalize._values import canonical_value

# The span kind a signal implies for a span no convention recognised.
_KIND_OF = {
    "gate": "gate",
    "human": "human",
    "guardrail": "guardrail",
    "policy": "guardrail",
    "handoff": "handoff",
}


def apply(out: Out, get: Any, signals: Sequence[Signal]) -> None:
    """Set the canonical fields the mapping reads from this span's attributes."""
    for signal in signals:
        raw = get(signal.key)
        if raw is None:
            continue
        if signal.values is not None:
            word = str(raw).strip().lower() if not isinstance(raw, bool) else str(raw).lower()
            value: Any = signal.values.get(word)
            if value is None:
                value = canonical_value(signal.field, raw)
        elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
            value = raw
        else:
            value = canonical_value(signal.field, raw)
        if value is None:
            continue
        out[signal.field] = value
        kind = _KIND_OF.get(signal.field.split(".", 1)[0])
        if kind is not None and out.get("span.kind") == "other":
            out["span.kind"] = kind
