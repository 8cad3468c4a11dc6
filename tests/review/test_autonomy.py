"""The autonomy signal against traffic: quiet on stationary noise, loud when a rate doubles."""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from spansift.model import Hit, Match, Severity, Span, SpanKind, StatusCode
from spansift.review.autonomy import FLAGGED, binomial_tail
from spansift.review.report import build_review
from spansift.store.log import ExceptionLog

NOW = datetime(2026, 11, 30)  # a UTC midnight: the window is whole days
DAYS = 14
RUNS_PER_DAY = 300
EPOCH = datetime(1970, 1, 1)


def _hit(workflow: str, run: int, when: datetime) -> Hit:
    end_ns = int((when - EPOCH).total_seconds() * 1e9)
    trace_id = f"{zlib.crc32(workflow.encode()):016x}{run:016x}"
    span = Span(
        trace_id, f"{run:016x}", None, "execute_tool lookup", SpanKind.INTERNAL,
        end_ns - 10**6, end_ns, StatusCode.ERROR, "failed", {"gen_ai.tool.name": "lookup"},
    )  # fmt: skip
    match = Match("tool-failed", "tool_error", Severity.MEDIUM, "tool", "lookup failed")
    return Hit(match, span, {"workflow": workflow, "agent.name": "a", "tool.name": "lookup"})


def _traffic(db: Path, rates: dict[str, tuple[float, float]], seed: int) -> None:
    """`RUNS_PER_DAY` runs a day per workflow; each run fails with the rate of its half."""
    rng = random.Random(seed)
    hits: list[Hit] = []
    counts = {}
    start = NOW - timedelta(days=DAYS)
    for workflow, (first, second) in rates.items():
        run = 0
        for day in range(DAYS):
            day_start = start + timedelta(days=day)
            counts[(day_start.date(), workflow)] = RUNS_PER_DAY
            rate = first if day < DAYS // 2 else second
            for _ in range(RUNS_PER_DAY):
                run += 1
                if rng.random() < rate:
                    when = day_start + timedelta(seconds=rng.uniform(0, 86_399))
                    hits.append(_hit(workflow, run, when))
    with ExceptionLog(db) as log:
        log.write(hits)
        log.record_runs(counts)


def _review(db: Path) -> dict[str, Any]:
    with ExceptionLog(db, read_only=True) as log:

        def fetch(sql: str, params: Sequence[Any]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
            return log.query(sql, params)

        review = build_review(fetch, timedelta(days=DAYS), now=NOW)
    return {s.workflow: s for s in review.signals}


def test_stationary_traffic_flags_no_workflow(db: Path) -> None:
    """Five workflows failing at a steady random rate, over several seeds: nothing flagged."""
    rates = {f"wf{i}": (r, r) for i, r in enumerate((0.01, 0.03, 0.05, 0.08, 0.2))}
    for seed in range(3):
        path = db.with_name(f"steady{seed}.duckdb")
        _traffic(path, rates, seed)
        signals = _review(path)
        assert set(signals) == set(rates)
        flagged = [w for w, s in signals.items() if s.verdict == FLAGGED]
        assert flagged == [], {w: (s.hit_runs, s.p_value) for w, s in signals.items()}


def test_doubled_rate_on_flat_traffic_is_flagged(db: Path) -> None:
    """Only the workflow whose rate doubles while its traffic stays flat is flagged."""
    rates = {"refunds": (0.03, 0.06), "search": (0.03, 0.03), "billing": (0.05, 0.05)}
    _traffic(db, rates, seed=7)
    signals = _review(db)
    assert [w for w, s in signals.items() if s.flagged] == ["refunds"]
    refunds = signals["refunds"]
    assert refunds.runs == (RUNS_PER_DAY * 7, RUNS_PER_DAY * 7)
    assert refunds.ratio is not None and refunds.ratio > 1.5
    assert refunds.p_value is not None and refunds.p_value < 0.001


def test_small_samples_and_unknown_traffic_are_not_flagged(db: Path) -> None:
    """A jump from 1 to 4 runs with exceptions is too few; no traffic counts means no rate."""
    hits = [_hit("tiny", n, NOW - timedelta(days=10 if n == 1 else 2)) for n in range(1, 5)]
    hits.append(_hit("unmetered", 99, NOW - timedelta(days=1)))
    with ExceptionLog(db) as log:
        log.write(hits)
        log.record_runs({((NOW - timedelta(days=d)).date(), "tiny"): 20 for d in range(1, 15)})
    signals = _review(db)
    assert signals["tiny"].verdict == "too few runs"
    assert signals["unmetered"].verdict == "no traffic counts"


def test_binomial_tail_matches_hand_values() -> None:
    """P(X >= k) for small cases equals the sums done by hand."""
    assert binomial_tail(0, 5, 0.5) == 1.0
    assert abs(binomial_tail(5, 5, 0.5) - 1 / 32) < 1e-12
    assert abs(binomial_tail(4, 5, 0.5) - 6 / 32) < 1e-12
    assert binomial_tail(6, 5, 0.5) == 0.0
