"""Trace and run rules end to end: OTLP fixtures, the SDK processor, runs, memory bounds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from spansift import ExceptionLogProcessor
from spansift.cli import main
from spansift.pipeline import Pipeline
from spansift.rules import load_ruleset
from spansift.sources.files import iter_file
from spansift.store.log import ExceptionLog
from spansift.traces import AssemblyLimits

TRACES = Path(__file__).parents[1] / "fixtures" / "traces"
CONTRACTS = TRACES / "spansift.yaml"
EXPECTED: dict[str, list[str]] = yaml.safe_load((TRACES / "expected.yaml").read_text())
sys.path.insert(0, str(TRACES))
import make_traces  # noqa: E402


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize("scenario", [pytest.param(n, id=n) for n in EXPECTED])
def test_ingest_finds_the_expected_trace_exceptions(scenario: str, db: Path) -> None:
    """Each recorded scenario yields exactly the exception types it is labelled with."""
    result = CliRunner().invoke(
        main,
        [
            "ingest",
            str(TRACES / f"{scenario}.jsonl"),
            "--db",
            str(db),
            "--contracts",
            str(CONTRACTS),
        ],
    )
    assert result.exit_code == 0, result.stderr
    found = sorted({t for (t,) in _rows(db, "SELECT exception_type FROM exceptions")})
    assert found == sorted(set(EXPECTED[scenario]))


def _in_process(db: Path, scenario: str) -> list[tuple[object, ...]]:
    provider = TracerProvider(resource=Resource({"service.name": "support"}))
    processor = ExceptionLogProcessor(db=db, contracts=CONTRACTS)
    provider.add_span_processor(processor)
    make_traces.SCENARIOS[scenario](
        make_traces.Run(provider.get_tracer("app"), make_traces.BASE_NS)
    )
    provider.shutdown()
    return _rows(db, "SELECT rule_id, tool FROM exceptions ORDER BY rule_id")


def test_processor_finds_a_loop_and_keeps_the_whole_trace(db: Path) -> None:
    """In process, six identical calls give runaway_loop with all seven spans as evidence."""
    assert _in_process(db, "loop") == [
        ("runaway_loop", "get_order"),
        ("tool_call_budget", "get_order"),
    ]
    rows = _rows(
        db,
        "SELECT e.rule_id, count(*), count(*) FILTER (WHERE s.offending) FROM exceptions e "
        "JOIN evidence_spans s USING (exception_id) GROUP BY 1 ORDER BY 1",
    )
    assert rows == [("runaway_loop", 7, 1), ("tool_call_budget", 7, 1)]


def test_runaway_loop_anchors_on_the_fifth_call(db: Path) -> None:
    """The loop row is about the call that crossed the limit, and says how many there were."""
    _in_process(db, "loop")
    (summary,) = _rows(db, "SELECT summary FROM exceptions WHERE rule_id = 'runaway_loop'")[0]
    assert summary == "support-agent called get_order 6 times in one trace"


def test_processor_joins_a_paused_and_resumed_run(db: Path) -> None:
    """Approval in one trace and execution in the next are one run: nothing is bypassed."""
    assert _in_process(db, "approved_then_resumed") == []


def test_processor_reports_a_proposed_call_that_never_ran(db: Path) -> None:
    """A tool call the model proposed and nobody executed is a human_override row."""
    assert _in_process(db, "proposed_and_rejected") == [("proposed_call_not_executed", None)]


def _spans_of(name: str) -> list[object]:
    spans: list[object] = []
    for chunk in iter_file(TRACES / f"{name}.jsonl"):
        assert chunk.spans is not None
        spans.extend(chunk.spans)
    return spans


def test_run_window_joins_traces_until_it_passes() -> None:
    """A resume inside the run window clears a proposal; one after it is too late."""
    ruleset = load_ruleset(None, CONTRACTS)
    now = [0.0]
    limits = AssemblyLimits(quiet_s=1, run_window_s=60)
    spans = _spans_of("approved_then_resumed")
    pause = [s for s in spans if s.trace_id == spans[0].trace_id]  # type: ignore[attr-defined]
    resume = [s for s in spans if s not in pause]

    def run(gap_s: float) -> list[str]:
        pipeline = Pipeline(ruleset, limits=limits, clock=lambda: now[0])
        now[0] = 0.0
        hits = pipeline.spans(pause)  # type: ignore[arg-type]
        now[0] = 2.0
        hits += pipeline.flush()
        now[0] = 2.0 + gap_s
        hits += pipeline.flush()
        hits += pipeline.spans(resume)  # type: ignore[arg-type]
        hits += pipeline.finish()
        return sorted(h.match.rule_id for h in hits)

    assert run(gap_s=30) == []
    assert run(gap_s=120) == ["approval_bypassed", "proposed_call_not_executed"]


def test_tiny_memory_bound_evicts_and_marks_the_exceptions(db: Path) -> None:
    """With room for one open trace, the older trace closes early and its rows say so."""
    ruleset = load_ruleset(None, CONTRACTS)
    pipeline = Pipeline(ruleset, limits=AssemblyLimits(max_traces=1), clock=lambda: 0.0)
    loop = _spans_of("loop")
    other = _spans_of("too_many_calls")
    hits = pipeline.spans(loop[:-1])  # type: ignore[arg-type]  # the loop, all but its root
    hits += pipeline.spans(other)  # type: ignore[arg-type]
    hits += pipeline.finish()
    assert pipeline.assembler is not None
    assert pipeline.assembler.counters.traces_evicted == 1
    with ExceptionLog(db) as log:
        log.write(hits)
        log.record_losses("ingest", pipeline.take_losses())
        _, gaps = log.query("SELECT source, lost_spans, reason FROM evidence_gaps")
        _, rows = log.query(
            "SELECT rule_id, evidence->>'incomplete' FROM exceptions "
            "WHERE trace_id = ? ORDER BY rule_id",
            [loop[0].trace_id],  # type: ignore[attr-defined]
        )
    assert gaps == [
        (
            "ingest",
            0,
            "trace assembly bounds: 1 traces and 0 runs evicted early, "
            "0 spans over the per-trace limit not kept",
        )
    ]
    assert pipeline.take_losses() is None, "each loss is reported once"
    # Without its root the trace names no agent, so no contract budget applies.
    assert rows == [("runaway_loop", "trace closed early: too many open traces or spans held")]


def test_spans_over_the_per_trace_limit_are_counted() -> None:
    """Spans beyond max_spans_per_trace are not held, and the exceptions say how many."""
    ruleset = load_ruleset(None, CONTRACTS)
    pipeline = Pipeline(ruleset, limits=AssemblyLimits(max_spans_per_trace=6), clock=lambda: 0.0)
    hits = pipeline.spans(_spans_of("loop")) + pipeline.finish()  # type: ignore[arg-type]
    assert pipeline.assembler is not None
    assert pipeline.assembler.counters.spans_dropped == 1  # the root, which ends last
    assert [(h.match.rule_id, h.incomplete) for h in hits] == [
        ("runaway_loop", "spans over the per-trace limit not kept: 1")
    ]


def test_trace_rules_off_keeps_the_fast_path(tmp_path: Path) -> None:
    """A pack without trace or run rules holds no spans and keeps its prefilter."""
    pack = tmp_path / "pack"
    pack.mkdir()
    source = (Path(__file__).parents[2] / "rules" / "tools.yaml").read_text()
    (pack / "tools.yaml").write_text(source)
    (pack / "common.yaml").write_text(
        (Path(__file__).parents[2] / "rules" / "common.yaml").read_text()
    )
    ruleset = load_ruleset([pack], default_rules=False)
    assert Pipeline(ruleset).assembler is None
    assert ruleset.prefilter is not None
    assert Pipeline(load_ruleset()).assembler is not None


def test_evidence_json_counts_context_spans(db: Path) -> None:
    """The row's evidence JSON says how many other spans of the trace are kept."""
    _in_process(db, "bypass")
    (evidence,) = _rows(db, "SELECT evidence FROM exceptions")[0]
    assert json.loads(str(evidence))["context_spans"] == 2


def test_replayed_spans_are_not_counted_twice() -> None:
    """A retried export repeats spans; a loop rule counts each span once."""
    ruleset = load_ruleset(None, CONTRACTS)
    spans = _spans_of("loop")
    tools = [s for s in spans if s.parent_span_id is not None]  # type: ignore[attr-defined]
    root = [s for s in spans if s not in tools]
    pipeline = Pipeline(ruleset, clock=lambda: 0.0)
    hits = pipeline.spans(tools[:3]) + pipeline.spans(tools[:3]) + pipeline.spans(root)  # type: ignore[arg-type]
    hits += pipeline.finish()
    assert [h.match.rule_id for h in hits] == []
