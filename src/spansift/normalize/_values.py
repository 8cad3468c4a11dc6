"""Words for the closed canonical values, as frameworks and applications spell them.

`canonical_value("gate.decision", "Rejected")` is `"denied"`. Normalizers and the
`signals:` mapping of a contracts file both use it, so an app that writes
`approval=REJECTED` and a framework that writes `decision: reject` mean the same.
"""

from __future__ import annotations

from typing import Any

_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "gate.decision": {
        "approved": ("approved", "approve", "allow", "allowed", "accept", "accepted", "granted",
                     "grant", "confirmed", "confirm", "yes"),
        "denied": ("denied", "deny", "rejected", "reject", "refused", "refuse", "declined",
                   "decline", "blocked", "block", "no", "disallowed"),
        "edited": ("edited", "edit", "modified", "modify", "amended", "changed",
                   "approved_with_changes", "override", "overridden"),
        "escalated": ("escalated", "escalate", "escalation", "referred"),
        "requested": ("requested", "request", "pending", "awaiting", "waiting", "asked",
                      "required", "needs_approval", "interrupted"),
        "expired": ("expired", "timeout", "timed_out", "lapsed"),
    },
    "human.decision": {
        "accepted": ("accepted", "accept", "approved", "approve", "correct", "thumbs_up", "good",
                     "ok", "lgtm", "yes"),
        "rejected": ("rejected", "reject", "denied", "incorrect", "thumbs_down", "bad", "wrong",
                     "no", "declined"),
        "edited": ("edited", "edit", "corrected", "modified", "overridden", "override",
                   "changed", "rewritten", "amended"),
    },
    "guardrail.result": {
        "passed": ("passed", "pass", "ok", "allow", "allowed", "clean", "safe", "success",
                   "succeeded", "none", "valid", "compliant"),
        "blocked": ("blocked", "block", "deny", "denied", "reject", "rejected", "fail", "failed",
                    "failure", "tripped", "triggered", "tripwire_triggered", "unsafe",
                    "violation", "violated", "invalid", "stop", "stopped", "intervened"),
        "modified": ("modified", "modify", "redacted", "redact", "masked", "mask", "rewritten",
                     "rewrite", "sanitized", "anonymized", "filtered"),
        "warned": ("warned", "warn", "warning", "flagged", "flag", "escalate", "escalated"),
    },
    "policy.decision": {
        "allow": ("allow", "allowed", "permit", "permitted", "pass", "passed", "ok"),
        "deny": ("deny", "denied", "block", "blocked", "reject", "rejected", "forbid",
                 "forbidden", "violation", "fail", "failed"),
    },
    "tool.outcome": {
        "ok": ("ok", "success", "succeeded", "completed", "done"),
        "error": ("error", "failed", "failure", "exception", "raised"),
        "handled_error": ("handled_error",),
        "not_found": ("not_found", "unknown", "missing"),
        "denied": ("denied", "rejected", "refused"),
        "pending": ("pending", "deferred", "interrupted", "waiting"),
    },
}  # fmt: skip
_LOOKUP = {
    field: {word: value for value, words in table.items() for word in words}
    for field, table in _SYNONYMS.items()
}
# What a boolean means for a field when the mapping gives no `values:`.
_BOOLEANS = {
    "gate.decision": ("approved", "denied"),
    "human.decision": ("accepted", "rejected"),
    "guardrail.result": ("blocked", "passed"),  # true reads as "the guardrail fired"
    "policy.decision": ("allow", "deny"),
}


def canonical_value(field: str, raw: Any) -> str | None:
    """The canonical value of `field` a raw value means, or None when it means none.

    Fields without a closed set return the raw text unchanged.
    """
    if isinstance(raw, bool):
        pair = _BOOLEANS.get(field)
        if pair is None:
            return None
        return pair[0] if raw else pair[1]
    if not isinstance(raw, str):
        return None if raw is None else str(raw)
    table = _LOOKUP.get(field)
    if table is None:
        return raw
    key = raw.strip().lower().replace("-", "_").replace(" ", "_")
    return table.get(key)


def has_synonyms(field: str) -> bool:
    return field in _LOOKUP
