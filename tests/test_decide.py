"""The decide stage: a batch of hits to rows, grant uses and suspensions, touching nothing.

Drivers hand hits to the store, which decides them with `spansift.decide`; the drive
path itself never imports the review package.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from spansift.decide import Controls, decide, router
from spansift.decide.owners import OwnerRule
from spansift.model import Hit, Match, Severity, Span, SpanKind, StatusCode
from spansift.store import chain
from spansift.store.log import ExceptionLog
from spansift.store.rows import COLUMN_NAMES, hit_id, utc_from_ns, utc_now

NOW = utc_now().replace(microsecond=0)
END_NS = int((NOW - datetime(1970, 1, 1)).total_seconds() * 1e9)


def _hit(
    n: int, *, kind: str = "wrong_tool", tool: str = "refund", contain: str | None = None
) -> Hit:
    span = Span(
        f"{n:032x}", f"{n:016x}", None, f"execute_tool {tool}", SpanKind.INTERNAL, END_NS - 10**6,
        END_NS, StatusCode.ERROR, "", {"gen_ai.tool.name": tool},
    )  # fmt: skip
    match = Match(f"rule-{kind}", kind, Severity.HIGH, "tool", f"{tool} used", contain=contain)
    return Hit(match, span, {"workflow": "billing", "agent.name": "payer", "tool.name": tool})


def _grant(uses: str = "") -> tuple[object, ...]:
    scope = f"uses={uses}" if uses else "*"
    return (
        "g1",
        "payer",
        "refund",
        scope,
        NOW - timedelta(days=1),
        NOW + timedelta(days=1),
        "",
        "",
    )


def test_a_live_grant_covers_a_use_and_counts_it_without_touching_the_snapshot() -> None:
    controls = Controls(grants=(_grant(),), uses={"g1": 3})
    hits = [_hit(1), _hit(2, kind="tool_error")]
    decision = decide(hits, controls, NOW)
    covered_id = hit_id(hits[0])
    assert decision.covered == {covered_id}
    assert set(decision.rows) == {hit_id(hits[1])}  # a tool error is never grantable
    assert [u[:2] for u in decision.uses] == [(covered_id, "g1")]
    assert decision.use_counts == {"g1": 4}
    assert controls.uses == {"g1": 3}  # the snapshot is left as it was


def test_a_grant_stops_covering_once_its_uses_run_out() -> None:
    controls = Controls(grants=(_grant(uses="1"),))
    decision = decide([_hit(1), _hit(2)], controls, NOW)
    assert len(decision.covered) == 1 and len(decision.rows) == 1
    assert decision.use_counts == {"g1": 1}


def test_owner_routing_and_containment_are_decided_with_the_rows() -> None:
    route = router((OwnerRule((("workflow", "bill*"),), "billing-oncall"),))
    contained = _hit(1, kind="tool_error", contain="agent")
    decision = decide([contained], Controls(), NOW, route_owner=route)
    row = dict(zip(COLUMN_NAMES, decision.rows[hit_id(contained)], strict=True))
    assert row["owner"] == "billing-oncall"
    assert row["occurred_at"] == utc_from_ns(END_NS)
    [(row_id, suspension)] = decision.suspensions
    assert row_id == hit_id(contained) and suspension[1:4] == ("agent", "payer", "suspend")
    # Already suspended: nothing more to ask for.
    again = decide([contained], Controls(suspended=frozenset({("agent", "payer")})), NOW)
    assert again.suspensions == ()


def test_the_store_writes_what_was_decided_and_keeps_the_counts(tmp_path: Path) -> None:
    with ExceptionLog(tmp_path / "log.duckdb") as log:
        log.append(chain.GRANT, "grants", [_grant(uses="1")])  # refreshes `controls`
        assert log.write([_hit(1), _hit(2, contain="workflow")]) == 1
        assert log.controls.uses == {"g1": 1}
        assert log.query("SELECT count(*) FROM grant_uses")[1] == [(1,)]
        assert log.is_suspended(None, "billing")


def test_the_drive_path_does_not_import_the_review_package() -> None:
    code = (
        "import sys, spansift.drive, spansift.pipeline, spansift.processor, spansift.ingest, "
        "spansift.store.log, spansift.decide\n"
        "print(sorted(m for m in sys.modules if m.startswith('spansift.review')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
