"""Repeated patterns that should become a control: a contract change, a grant, a rule or an eval.

Pure SQL over the log through `fetch`; each suggestion names the change, the evidence
(how many times, since when) and the follow-up kind a resolution would record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Fetch = Callable[[str, Sequence[Any]], tuple[tuple[str, ...], list[tuple[Any, ...]]]]

_PAIRS_SQL = """
SELECT exception_type, coalesce(agent, '(no agent)'), coalesce(tool, '(no tool)'),
       count(*) AS n, count(*) FILTER (WHERE status IN ('open', 'regressed')) AS open,
       count(*) FILTER (WHERE status = 'regressed') AS regressed,
       min(occurred_at), count(DISTINCT trace_id)
FROM exceptions WHERE occurred_at >= ?
GROUP BY 1, 2, 3 HAVING count(*) >= ? ORDER BY n DESC, 1, 2, 3
"""
_GRANTED_SQL = """
SELECT agent, tool, count(*) AS n, min(occurred_at) FROM grant_uses
WHERE occurred_at >= ? GROUP BY 1, 2 HAVING count(*) >= ? ORDER BY n DESC, 1, 2
"""


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One proposed control."""

    kind: str  # contract, grant, rule, eval
    agent: str
    tool: str
    count: int
    since: datetime
    change: str
    follow_up: str


def _advice(kind: str, agent: str, tool: str, n: int) -> tuple[str, str, str] | None:
    if kind == "approval_denied":
        return ("contract", f"remove {tool} from agents.{agent}.tools.allowed: denied {n} times",
                "permission_change")  # fmt: skip
    if kind == "approval_escalated":
        return ("grant", f"approvals for {tool} escalated {n} times: consider `spansift grant "
                f"--agent {agent} --tool {tool}` with a scope", "permission_change")  # fmt: skip
    if kind == "wrong_tool":
        return ("contract", f"{agent} used {tool} outside its contract {n} times: add it to "
                "tools.allowed (with require_approval) or add an eval case",
                "permission_change")  # fmt: skip
    if kind == "unknown_tool":
        return ("eval", f"{agent} called unknown tool {tool} {n} times: add an eval case and a "
                "grader rule that fails the run", "eval_case")  # fmt: skip
    if kind == "approval_bypassed":
        return ("rule", f"{tool} ran without its approval gate {n} times: enforce the gate in "
                "code and keep the rule at high severity", "source_policy")  # fmt: skip
    if kind in ("tool_error", "guardrail_tripped", "policy_violation"):
        return ("eval", f"{kind} on {tool} in {agent} {n} times: add an eval case from "
                "`spansift export evals`", "eval_case")  # fmt: skip
    return None


def suggestions(fetch: Fetch, since: datetime, minimum: int) -> list[Suggestion]:
    """Suggestions for every pattern seen at least `minimum` times since `since`."""
    out: list[Suggestion] = []
    _, rows = fetch(_PAIRS_SQL, [since, minimum])
    for kind, agent, tool, n, _open, regressed, first, _traces in rows:
        advice = _advice(str(kind), str(agent), str(tool), int(n))
        if advice is not None:
            change = advice[1] + (f" ({regressed} regressed after a fix)" if regressed else "")
            out.append(Suggestion(advice[0], agent, tool, int(n), first, change, advice[2]))
    _, granted = fetch(_GRANTED_SQL, [since, minimum])
    for agent, tool, n, first in granted:
        out.append(
            Suggestion(
                "contract", agent, tool, int(n), first,
                f"{tool} was used under a grant {n} times: make it a contract change "
                "(tools.allowed, require_approval) instead of renewing grants",
                "permission_change",
            )
        )  # fmt: skip
    return out
