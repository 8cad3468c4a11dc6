"""The autonomy signal: is a workflow crossing boundaries more often than it did, per run?

Per workflow, the window is cut in two halves. In each half we count the runs the
pipeline saw (`workflow_runs`, per UTC day, spread evenly over the part of the day that
lies in the window) and the runs with at least one exception (distinct traces of its
rows). If the rate did not change, the runs with exceptions in the second half follow a
binomial law with the second half's share of the traffic; the signal is the one-sided
tail probability of seeing as many or more.

A workflow is flagged when all of these hold (the stated threshold):
- both halves saw at least `MIN_RUNS` runs and the two together at least
  `MIN_EXCEPTION_RUNS` runs with exceptions (the minimum sample);
- the rate grew by at least `MIN_RATIO` (x1.5);
- the tail probability is below `ALPHA` (0.01).
A workflow without traffic counts is never flagged: its rate cannot be known.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

MIN_RUNS = 50
MIN_EXCEPTION_RUNS = 10
MIN_RATIO = 1.5
ALPHA = 0.01
THRESHOLD = (
    f"flagged when the rate of runs with exceptions grew x{MIN_RATIO} or more between the two "
    f"halves with p < {ALPHA} (binomial test against the traffic), given >= {MIN_RUNS} runs per "
    f"half and >= {MIN_EXCEPTION_RUNS} runs with exceptions"
)
FLAGGED, STEADY, FEW, NO_TRAFFIC = "RATE RISING", "ok", "too few runs", "no traffic counts"


@dataclass(frozen=True, slots=True)
class Signal:
    """The autonomy signal of one workflow over the window."""

    workflow: str
    runs: tuple[float, float]  # runs seen per half
    hit_runs: tuple[int, int]  # runs with an exception, per half
    controls_added: int  # resolutions with a follow-up other than none
    p_value: float | None

    @property
    def rates(self) -> tuple[float | None, float | None]:
        return (
            self.hit_runs[0] / self.runs[0] if self.runs[0] else None,
            self.hit_runs[1] / self.runs[1] if self.runs[1] else None,
        )

    @property
    def ratio(self) -> float | None:
        first, second = self.rates
        if first is None or second is None:
            return None
        return second / first if first else (math.inf if second else 1.0)

    @property
    def verdict(self) -> str:
        if not (self.runs[0] or self.runs[1]):
            return NO_TRAFFIC
        if min(self.runs) < MIN_RUNS or sum(self.hit_runs) < MIN_EXCEPTION_RUNS:
            return FEW
        ratio = self.ratio
        if ratio is not None and ratio >= MIN_RATIO and (self.p_value or 1.0) < ALPHA:
            return FLAGGED
        return STEADY

    @property
    def flagged(self) -> bool:
        return self.verdict == FLAGGED


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (exact, no SciPy)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p
        + (n - i) * log_q
        for i in range(k, n + 1)
    ]  # fmt: skip
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def split_runs(
    per_day: Mapping[date, float], start: datetime, middle: datetime, until: datetime
) -> tuple[float, float]:
    """Runs per half: each day's runs spread evenly over its part that has passed."""
    first = second = 0.0
    for day, runs in per_day.items():
        day_start = datetime(day.year, day.month, day.day)
        day_end = min(day_start + timedelta(days=1), max(until, day_start))
        length = (day_end - day_start).total_seconds()
        if length <= 0:
            continue
        first += runs * _overlap(start, middle, day_start, day_end) / length
        second += runs * _overlap(middle, until, day_start, day_end) / length
    return first, second


def _overlap(lo: datetime, hi: datetime, start: datetime, end: datetime) -> float:
    """Seconds shared by [lo, hi) and [start, end)."""
    return max((min(hi, end) - max(lo, start)).total_seconds(), 0.0)


def signals(
    hit_traces: Sequence[tuple[str, str, datetime]],
    runs: Sequence[tuple[str, date, float]],
    controls: Mapping[str, int],
    start: datetime,
    until: datetime,
) -> tuple[Signal, ...]:
    """One signal per workflow that had exceptions, traffic or controls in the window.

    `hit_traces`: (workflow, trace id, first exception time) per run with exceptions;
    `runs`: (workflow, day, runs) traffic; `controls`: controls added per workflow.
    """
    middle = start + (until - start) / 2
    hits: dict[str, tuple[set[str], set[str]]] = {}
    for workflow, trace_id, when in hit_traces:
        halves = hits.setdefault(workflow, (set(), set()))
        halves[0 if when < middle else 1].add(trace_id)
    traffic: dict[str, dict[date, float]] = {}
    for workflow, day, n in runs:
        traffic.setdefault(workflow, {})[day] = float(n)
    out = []
    for workflow in sorted(set(hits) | set(traffic) | set(controls)):
        first, second = hits.get(workflow, (set(), set()))
        seen = split_runs(traffic.get(workflow, {}), start, middle, until)
        k1, k2 = len(first), len(second)
        p_value = None
        if seen[0] > 0 and seen[1] > 0:
            share = seen[1] / (seen[0] + seen[1])
            p_value = binomial_tail(k2, k1 + k2, share)
        out.append(Signal(workflow, seen, (k1, k2), controls.get(workflow, 0), p_value))
    return tuple(out)


def signal_row(s: Signal) -> tuple[object, ...]:
    """The review table's row for a signal."""
    first, second = s.rates
    ratio = s.ratio
    return (
        s.workflow,
        round(s.runs[0]),
        round(s.runs[1]),
        s.hit_runs[0],
        s.hit_runs[1],
        _pct(first),
        _pct(second),
        "-" if ratio is None else ("new" if math.isinf(ratio) else f"x{ratio:.2f}"),
        "-" if s.p_value is None else f"{s.p_value:.3g}",
        s.controls_added,
        s.verdict,
    )


SIGNAL_COLUMNS = (
    "workflow", "runs 1st half", "runs 2nd half", "with exc. 1st", "with exc. 2nd", "rate 1st",
    "rate 2nd", "change", "p", "controls added", "signal",
)  # fmt: skip


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"
