"""The drive loop: runs that outlive a process, event-time backfill, commit-or-retry."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from spansift.drive import Driver
from spansift.model import Span
from spansift.rules import load_ruleset
from spansift.sources.files import iter_file
from spansift.store.log import ExceptionLog
from spansift.traces import AssemblyLimits

TRACES = Path(__file__).parent / "fixtures" / "traces"
CONTRACTS = TRACES / "spansift.yaml"
LIVE = AssemblyLimits(quiet_s=0.0, run_window_s=3600)


def _spans(name: str) -> list[Span]:
    spans: list[Span] = []
    for chunk in iter_file(TRACES / f"{name}.jsonl"):
        assert chunk.spans is not None
        spans.extend(chunk.spans)
    return spans


def _paused_and_resumed() -> tuple[list[Span], list[Span]]:
    spans = _spans("approved_then_resumed")
    pause = [s for s in spans if s.trace_id == spans[0].trace_id]
    return pause, [s for s in spans if s not in pause]


def _rule_ids(db: Path) -> list[str]:
    with ExceptionLog(db) as log:
        _, rows = log.query("SELECT rule_id FROM exceptions ORDER BY rule_id")
    return [str(r) for (r,) in rows]


def _first_process(db: Path, pause: list[Span]) -> None:
    """Sees the approval request, closes its trace, commits, and exits without finishing."""
    ruleset = load_ruleset(None, CONTRACTS)
    with ExceptionLog(db) as log:
        driver = Driver(ruleset, log, source="test", limits=LIVE)
        driver.spans(pause)
        driver.tick(ended_roots=True)
        driver.commit()


def test_a_restart_keeps_the_open_run(db: Path) -> None:
    """Approval before a restart, execution after: the run is one run and nothing is bypassed."""
    pause, resume = _paused_and_resumed()
    _first_process(db, pause)
    with ExceptionLog(db) as log:
        assert log.load_run_state(), "the open run was saved with the commit"
        driver = Driver(load_ruleset(None, CONTRACTS), log, source="test", limits=LIVE)
        assert driver.restore() == 1
        driver.spans(resume)
        driver.finish()
        driver.commit()
        assert log.load_run_state() == [], "a closed run leaves no state behind"
    assert _rule_ids(db) == []


def test_without_the_saved_run_the_resume_looks_bypassed(db: Path) -> None:
    """The control for the test above: forgetting the run is what raised the false alarm."""
    _, resume = _paused_and_resumed()
    with ExceptionLog(db) as log:
        driver = Driver(load_ruleset(None, CONTRACTS), log, source="test", limits=LIVE)
        driver.spans(resume)
        driver.finish()
        driver.commit()
    assert _rule_ids(db) == ["approval_bypassed"]


def test_a_failed_commit_keeps_hits_and_run_state_for_the_retry(db: Path) -> None:
    """A write that fails loses nothing: the next commit writes the same hits and state."""
    pause, _ = _paused_and_resumed()
    loop = _spans("loop")
    ruleset = load_ruleset(None, CONTRACTS)
    with ExceptionLog(db) as log:
        driver = Driver(ruleset, log, source="test", limits=LIVE)
        driver.spans(pause + loop)
        driver.tick(ended_roots=True)
        assert driver.pending == 2
        real_write = log.write

        def failing_write(*args: object, **kwargs: object) -> int:
            msg = "No space left on device"
            raise OSError(msg)

        log.write = failing_write  # type: ignore[method-assign]
        with pytest.raises(OSError):
            driver.commit()
        assert driver.pending == 2
        log.write = real_write  # type: ignore[method-assign]
        assert driver.commit() == 2
        assert len(log.load_run_state()) == 1
    assert _rule_ids(db) == ["runaway_loop", "tool_call_budget"]


def test_event_time_backfill_does_not_depend_on_arrival_speed(tmp_path: Path) -> None:
    """Event time: the same spans, fed in any batching, give the same rows."""
    spans = _spans("loop") + _spans("bypass") + _spans("approved_then_resumed")
    ruleset = load_ruleset(None, CONTRACTS)
    results = []
    for seed in range(4):
        rng = random.Random(seed)
        db = tmp_path / f"{seed}.duckdb"
        with ExceptionLog(db) as log:
            driver = Driver(ruleset, log, source="ingest", event_time=True)
            at = 0
            while at < len(spans):
                step = rng.randint(1, 5)
                driver.spans(spans[at : at + step])
                driver.tick()
                at += step
            driver.finish()
            driver.commit()
        results.append(_rule_ids(db))
    assert results[0] == ["approval_bypassed", "runaway_loop", "tool_call_budget"]
    assert all(r == results[0] for r in results)


def _shifted(spans: list[Span], minutes: int) -> list[Span]:
    from dataclasses import replace

    ns = minutes * 60 * 10**9
    return [replace(s, start_ns=s.start_ns + ns, end_ns=s.end_ns + ns) for s in spans]


@pytest.mark.parametrize(("window_s", "rows"), [(None, []), (300.0, ["approval_bypassed"])])
def test_backfill_joins_a_resume_that_came_long_after_its_approval(
    db: Path, window_s: float | None, rows: list[str]
) -> None:
    """In a file the whole session is there: an approval answered 20 minutes later, with other
    traffic in between, is no bypass (a five-minute window, the control, would say it is)."""
    pause, resume = _paused_and_resumed()
    other = [s for s in _spans("clean") if s.trace_id not in {pause[0].trace_id}]
    limits = None if window_s is None else AssemblyLimits(30.0, 300.0, 300.0, window_s)
    with ExceptionLog(db) as log:
        driver = Driver(
            load_ruleset(None, CONTRACTS), log, source="ingest", event_time=True, limits=limits
        )
        driver.spans(pause)
        driver.spans(_shifted(other, 10))  # traffic in between moves event time on
        driver.tick()
        driver.spans(_shifted(resume, 20))
        driver.finish()
        driver.commit()
    assert _rule_ids(db) == rows


def test_run_state_of_many_sessions_is_saved_replaced_and_deleted_in_one_go(db: Path) -> None:
    """A commit saves every changed trace of every open run; a closed run's rows go."""
    saves = [(f"session-{n}", f"trace-{n}", f'[{{"n": {n}}}]') for n in range(500)]
    with ExceptionLog(db) as log:
        log.write([], (saves, []))
        assert len(log.load_run_state()) == 500
        log.write([], ([("session-1", "trace-1", '[{"n": "again"}]')], ["session-0"]))
        state = {(run, trace): text for run, trace, text in log.load_run_state()}
    assert len(state) == 499
    assert ("session-0", "trace-0") not in state
    assert state[("session-1", "trace-1")] == '[{"n": "again"}]'
