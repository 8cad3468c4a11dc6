"""Reconciling standing approvals against what actually ran.

For each grant: how often it covered a use (`grant_uses`), and how often the same
agent used the same tool in a way it did not cover: inside its time window but
outside its scope (another workflow, more uses than allowed), or after it expired.
Grants never used are reported too: an approval nobody needed is a permission to
take back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from spansift.decide.coverage import GRANTABLE

Fetch = Callable[[str, Sequence[Any]], tuple[tuple[str, ...], list[tuple[Any, ...]]]]
_TYPES = ", ".join(f"'{t}'" for t in sorted(GRANTABLE))
GRANTS_SQL = f"""
SELECT g.grant_id[1:12] AS id, g.agent, g.tool, g.scope, g.approvers,
       g.granted_at, g.expires_at,
       CASE WHEN g.grant_id IN (SELECT grant_id FROM grant_revocations) THEN 'revoked'
            WHEN g.expires_at > ? THEN 'live' ELSE 'expired' END AS state,
       (SELECT count(*) FROM grant_uses u WHERE u.grant_id = g.grant_id) AS uses,
       (SELECT count(*) FROM exception_rows e
         WHERE e.agent = g.agent AND e.tool = g.tool AND e.exception_type IN ({_TYPES})
           AND e.occurred_at >= g.granted_at AND e.occurred_at < g.expires_at) AS beyond_scope,
       (SELECT count(*) FROM exception_rows e
         WHERE e.agent = g.agent AND e.tool = g.tool AND e.exception_type IN ({_TYPES})
           AND e.occurred_at >= g.expires_at) AS after_expiry
FROM grants g
ORDER BY g.granted_at
"""


def reconcile(
    fetch: Fetch, now: datetime
) -> tuple[tuple[str, ...], list[tuple[Any, ...]], list[str]]:
    """The grants table and one finding per grant that needs attention."""
    columns, rows = fetch(GRANTS_SQL, [now])
    findings: list[str] = []
    for row in rows:
        doc = dict(zip(columns, row, strict=True))
        name = f"grant {doc['id']} ({doc['agent']} / {doc['tool']})"
        if doc["uses"] == 0:
            when = {"expired": "expired", "revoked": "was revoked"}.get(doc["state"], "is live")
            findings.append(f"{name} {when} and was never used: take the permission back")
        if doc["beyond_scope"]:
            findings.append(
                f"{name} was exceeded {doc['beyond_scope']} times (outside scope {doc['scope']}): "
                "those uses are exceptions in the log"
            )
        if doc["after_expiry"]:
            findings.append(f"{name} was relied on {doc['after_expiry']} times after it expired")
    return columns, rows, findings
