"""Writes of the review loop: decisions, grants, suspensions, webhook outcomes, fingerprints.

Every write is a JSON-ready request (`{"op": ...}`) applied by `apply` to an open
`ExceptionLog`. The CLI applies it to the file directly when no receiver runs; a
running `spansift serve` applies the same request on its writer connection, under
the log's lock, so the hash chain keeps a single writer either way.

Threading contract: `apply` may be called from any thread; it holds `log.lock` for the
whole request (selection and append), so it never interleaves with the worker's writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from spansift.errors import SpansiftError
from spansift.model import FollowUp
from spansift.rules.contracts import Contracts
from spansift.store import chain
from spansift.store.log import ExceptionLog
from spansift.store.rows import utc_now

# action -> the status it sets
ACTIONS = {
    "ack": "acknowledged",
    "resolve": "resolved",
    "suppress": "suppressed",
    "reopen": "open",
    "assign": "",  # keeps each row's status; only the owner changes
}
PATTERN_ACTIONS = ("resolve", "suppress", "reopen")
FOLLOW_UPS = tuple(f.value for f in FollowUp)
_FILTERS = {
    "type": "exception_type = ?",
    "workflow": "workflow = ?",
    "rule": "rule_id = ?",
    "status": "status = ?",
    "agent": "agent = ?",
    "fingerprint": "exception_id IN (SELECT exception_id FROM exception_patterns "
    "WHERE fingerprint = ?)",
}
# Window bounds, ISO 8601 (UTC when no offset is given).
_BOUNDS = {"since": "occurred_at >= ?", "until": "occurred_at < ?"}


class ActionError(SpansiftError):
    """A review request was refused; the message says which part to change."""


def _id(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _text(doc: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = doc.get(key)
    if value is None or value == "":
        if required:
            msg = f"'{key}' is required"
            raise ActionError(msg)
        return None
    if not isinstance(value, str):
        msg = f"'{key}' must be text"
        raise ActionError(msg)
    return value


def _seconds(doc: Mapping[str, Any], key: str) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        msg = f"'{key}' must be a positive number of seconds"
        raise ActionError(msg)
    return float(value)


def _utc(key: str, value: str) -> datetime:
    """An ISO 8601 filter bound as the naive UTC the log stores."""
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        msg = f"'{key}' must be an ISO 8601 date or time, got {value!r}"
        raise ActionError(msg) from None
    if found.tzinfo is not None:
        found = found.astimezone(timezone.utc).replace(tzinfo=None)
    return found


def select(log: ExceptionLog, doc: Mapping[str, Any]) -> list[str]:
    """Full exception ids chosen by id prefixes and/or filters (`exceptions` view)."""
    where: list[str] = []
    params: list[Any] = []
    ids = doc.get("ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        msg = "'ids' must be a list of exception ids (or prefixes)"
        raise ActionError(msg)
    filters = doc.get("filter") or {}
    if not isinstance(filters, Mapping):
        msg = "'filter' must be a mapping"
        raise ActionError(msg)
    for key, value in filters.items():
        if key == "since_s":
            seconds = _seconds(filters, "since_s")
            where.append("occurred_at >= ?")
            params.append(utc_now() - timedelta(seconds=seconds or 0))
        elif key in _BOUNDS and isinstance(value, str):
            where.append(_BOUNDS[key])
            params.append(_utc(key, value))
        elif key in _FILTERS and isinstance(value, str):
            where.append(_FILTERS[key])
            params.append(value)
        else:
            valid = ", ".join([*_FILTERS, *_BOUNDS, "since_s"])
            msg = f"unknown filter {key!r}; use one of {valid}"
            raise ActionError(msg)
    if not ids and not where:
        msg = "name exception ids or at least one filter (--type, --workflow, --rule, ...)"
        raise ActionError(msg)
    found: list[str] = []
    if ids:
        for prefix in ids:
            _, rows = log.query(
                "SELECT exception_id FROM exceptions WHERE starts_with(exception_id, ?)"
                + "".join(f" AND {w}" for w in where),
                [prefix.lower(), *params],
            )
            if not rows:
                msg = f"no exception with id {prefix!r} (matching the filters)"
                raise ActionError(msg)
            if len(rows) > 1:
                msg = f"id {prefix!r} is ambiguous ({len(rows)} exceptions); give more digits"
                raise ActionError(msg)
            found.append(str(rows[0][0]))
    else:
        _, rows = log.query(
            "SELECT exception_id FROM exceptions WHERE "
            + " AND ".join(where)
            + " ORDER BY occurred_at",
            params,
        )
        found = [str(r[0]) for r in rows]
    return list(dict.fromkeys(found))


def decide(log: ExceptionLog, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Append one decision row per selected exception (ack, resolve, suppress, reopen)."""
    action = _text(doc, "action", required=True)
    if action not in ACTIONS:
        msg = f"unknown action {action!r}; use one of {', '.join(ACTIONS)}"
        raise ActionError(msg)
    actor = _text(doc, "actor", required=True)
    follow_up = _text(doc, "follow_up")
    if follow_up is not None and follow_up not in FOLLOW_UPS:
        msg = f"follow-up {follow_up!r} is not one of {', '.join(FOLLOW_UPS)}"
        raise ActionError(msg)
    resolution = _text(doc, "resolution")
    if action == "resolve" and resolution is None:
        msg = "resolving needs a --resolution (what was done)"
        raise ActionError(msg)
    owner, note = _text(doc, "owner"), _text(doc, "note")
    if action == "assign" and owner is None:
        msg = "assigning needs an --owner"
        raise ActionError(msg)
    seconds = _seconds(doc, "for_s")
    if action == "suppress" and seconds is None:
        msg = "suppressing needs --for (e.g. 7d): suppressions expire"
        raise ActionError(msg)
    until = utc_now() + timedelta(seconds=seconds) if seconds is not None else None
    if doc.get("pattern"):
        return _decide_patterns(log, doc, action, actor or "", until, resolution, follow_up, note)
    with log.lock:
        ids = select(log, doc)
        now = utc_now()
        status = _statuses(log, ids) if action == "assign" else {}
        kept = until if action == "suppress" else None
        rows = [
            (_id(exception_id, now.isoformat(), action, actor), exception_id, now, actor, action,
             ACTIONS[action] or status[exception_id], owner, resolution, follow_up, note, kept)
            for exception_id in ids
        ]  # fmt: skip
        written = log.append(chain.DECISION, "decisions", rows)
    return {"decided": written, "ids": ids, "status": ACTIONS[action] or "assigned"}


def _statuses(log: ExceptionLog, ids: list[str]) -> dict[str, str]:
    """Each row's status as the `exceptions` view shows it now."""
    _, rows = log.query(
        "SELECT exception_id, status FROM exceptions WHERE list_contains(?, exception_id)", [ids]
    )
    return {str(i): str(s) for i, s in rows}


def _decide_patterns(
    log: ExceptionLog,
    doc: Mapping[str, Any],
    action: str,
    actor: str,
    until: datetime | None,
    resolution: str | None,
    follow_up: str | None,
    note: str | None,
) -> dict[str, Any]:
    """One `pattern_decisions` row per pattern of the selected exceptions."""
    if action not in PATTERN_ACTIONS:
        msg = f"a pattern can be {', '.join(PATTERN_ACTIONS)}; {action} applies to rows only"
        raise ActionError(msg)
    with log.lock:
        ids = select(log, doc)
        _, found = log.query(
            "SELECT DISTINCT fingerprint FROM exception_patterns "
            "WHERE list_contains(?, exception_id) ORDER BY 1",
            [ids],
        )
        now = utc_now()
        rows = [
            (_id(fp, now.isoformat(), action, actor), fp, now, actor, action, until, resolution,
             follow_up, note)
            for (fp,) in found
        ]  # fmt: skip
        written = log.append(chain.PATTERN_DECISION, "pattern_decisions", rows)
    patterns = [str(r[1]) for r in rows]
    return {"decided": written, "ids": ids, "patterns": patterns, "status": ACTIONS[action]}


def grant(log: ExceptionLog, doc: Mapping[str, Any], contracts: Contracts | None) -> dict[str, Any]:
    """Append a standing approval; high-impact tools need two different approvers."""
    agent = _text(doc, "agent", required=True)
    tool = _text(doc, "tool", required=True)
    scope = _text(doc, "scope") or "*"
    justification = _text(doc, "justification", required=True)
    seconds = _seconds(doc, "expires_s")
    if seconds is None:
        msg = "a grant needs --expires (e.g. 24h): grants never last forever"
        raise ActionError(msg)
    approvers = doc.get("approvers") or []
    if not isinstance(approvers, list) or not all(isinstance(a, str) and a for a in approvers):
        msg = "'approvers' must be a list of names (--by, repeatable)"
        raise ActionError(msg)
    approvers = sorted(set(approvers))
    if not approvers:
        msg = "a grant needs an approver: --by WHO"
        raise ActionError(msg)
    contract = contracts.for_agent(agent) if contracts is not None else None
    if contract is not None and tool in contract.high_impact and len(approvers) < 2:
        msg = (
            f"'{tool}' is high-impact for {agent} (contract tools.high_impact): "
            "a grant needs two different approvers (--by A --by B)"
        )
        raise ActionError(msg)
    now = utc_now()
    grant_id = _id(agent, tool, scope, now.isoformat())
    row = (
        grant_id, agent, tool, scope, now, now + timedelta(seconds=seconds),
        ",".join(approvers), justification,
    )  # fmt: skip
    log.append(chain.GRANT, "grants", [row])
    return {"grant_id": grant_id, "expires_at": row[5].isoformat()}


def revoke(log: ExceptionLog, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Take a grant back before it expires: uses after this are exceptions again."""
    prefix = _text(doc, "grant_id", required=True) or ""
    actor = _text(doc, "actor", required=True)
    reason = _text(doc, "reason", required=True)
    with log.lock:
        _, found = log.query(
            "SELECT grant_id FROM grants WHERE starts_with(grant_id, ?)", [prefix.lower()]
        )
        if len(found) != 1:
            problem = "no grant" if not found else f"{len(found)} grants"
            msg = f"grant id {prefix!r} matches {problem}"
            raise ActionError(msg)
        grant_id = str(found[0][0])
        now = utc_now()
        row = (_id(grant_id, now.isoformat(), actor), grant_id, now, actor, reason)
        log.append(chain.REVOCATION, "grant_revocations", [row])
    return {"grant_id": grant_id, "revoked_at": now.isoformat()}


def suspend(log: ExceptionLog, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Turn the containment switch of an agent or workflow on (`suspend`) or off (`resume`)."""
    action = _text(doc, "action", required=True)
    if action not in ("suspend", "resume"):
        msg = "action must be suspend or resume"
        raise ActionError(msg)
    kind = _text(doc, "target_kind", required=True)
    if kind not in ("agent", "workflow"):
        msg = "name an --agent or a --workflow"
        raise ActionError(msg)
    target = _text(doc, "target", required=True)
    actor = _text(doc, "actor", required=True)
    reason = _text(doc, "reason", required=True)
    now = utc_now()
    row = (_id(kind, target, action, now.isoformat()), kind, target, action, actor, reason, now)
    log.append(chain.SUSPENSION, "suspensions", [row])
    return {"suspension_id": row[0], "suspended": (kind, target) in log.controls.suspended}


def deliveries(log: ExceptionLog, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Record webhook delivery outcomes (operational rows, not chained)."""
    rows = doc.get("rows") or []
    if not isinstance(rows, list):
        msg = "'rows' must be a list"
        raise ActionError(msg)
    for row in rows:
        if not _delivery_row(row):
            msg = (
                "each of 'rows' must be [exception_id, hook, attempts, delivered, "
                "http_status or null, error or null]"
            )
            raise ActionError(msg)
    now = utc_now()
    with log.lock:
        for row in rows:
            exception_id, hook, attempts, delivered, status, error = row
            log.con.execute(
                "INSERT INTO webhook_deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [_id(exception_id, hook, now.isoformat()), exception_id, hook, attempts,
                 delivered, status, error, now],
            )  # fmt: skip
    return {"recorded": len(rows)}


def _delivery_row(row: Any) -> bool:
    """Whether a webhook outcome row has the shape and types `webhook_deliveries` takes."""
    if not isinstance(row, list) or len(row) != 6:
        return False
    exception_id, hook, attempts, delivered, status, error = row
    return (
        isinstance(exception_id, str) and isinstance(hook, str)
        and type(attempts) is int and 0 <= attempts < 1 << 31
        and isinstance(delivered, bool)
        and (status is None or (type(status) is int and 0 <= status < 1000))
        and (error is None or isinstance(error, str))
    )  # fmt: skip


def fingerprints(log: ExceptionLog, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Replace the per-rule fingerprint fields (`{"rules": {rule_id: [field, ...]}}`)."""
    rules = doc.get("rules") or {}
    if not isinstance(rules, Mapping) or not all(
        isinstance(fields, list) and all(isinstance(f, str) for f in fields)
        for fields in rules.values()
    ):
        msg = "'rules' must map rule ids to field lists"
        raise ActionError(msg)
    log.set_fingerprints(rules)
    return {"rules": len(rules)}


def apply(
    log: ExceptionLog, doc: Mapping[str, Any], contracts: Contracts | None = None
) -> dict[str, Any]:
    """Apply one review request; `ActionError` when it is refused."""
    op = doc.get("op")
    if op == "decide":
        return decide(log, doc)
    if op == "grant":
        return grant(log, doc, contracts)
    if op == "suspend":
        return suspend(log, doc)
    if op == "revoke":
        return revoke(log, doc)
    if op == "deliveries":
        return deliveries(log, doc)
    if op == "fingerprints":
        return fingerprints(log, doc)
    msg = f"unknown op {op!r}"
    raise ActionError(msg)
