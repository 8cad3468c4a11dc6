"""The store's share of the core: CPU per span of `ExceptionLog.write` alone.

The workload's requests go through the drive loop once (as `bench_core.py` feeds them) with a
log that only keeps what each commit hands it; then, each round, those same batches are
written to a fresh DuckDB file (opened outside the measure): exception rows, evidence, links,
controls, the chain entry and run state. CPU time per span of the workload, median of rounds.
Then the evidence of one exception as `show` reads it, from the last file: CPU ms per query,
median over up to 50 exceptions.

    python bench/bench_write.py [--spans 50000] [--repeats 3] [--workload agent]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_core import WORKLOADS, arguments, cpu, drive
from spansift.drive import Driver
from spansift.model import Hit
from spansift.rules import load_ruleset
from spansift.store.log import ExceptionLog

# The evidence of one exception, as `spansift show` reads it.
_SHOW = (
    "SELECT span_id, parent_span_id, name, status, start_at, end_at, offending, span "
    "FROM evidence_spans WHERE exception_id = ? ORDER BY start_at, span_id"
)


class Batches:
    """Stands in for `ExceptionLog` under a `Driver`: keeps each commit's hits and run state."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[Hit], Any]] = []

    def write(self, hits: list[Hit], run_state: Any = None) -> int:
        self.batches.append((list(hits), run_state))
        return len(hits)

    def record_losses(self, source: str, losses: Any) -> None:
        return None

    def record_runs(self, runs: Any) -> None:
        return None


def write_all(log: ExceptionLog, batches: list[tuple[list[Hit], Any]]) -> None:
    for hits, run_state in batches:
        log.write(hits, run_state)


def main() -> None:
    args, names = arguments(__doc__.splitlines()[0], 50_000)
    ruleset = load_ruleset()
    print(f"{args.spans:,} spans per workload, {args.repeats} rounds, default pack, CPU time")
    print(f"{'workload':<10} {'hits':>7} {'write µs/span':>14} {'show ms/row':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            bodies = [r.SerializeToString() for r in WORKLOADS[name](args.spans)]
            kept = Batches()
            drive(Driver(ruleset, kept, source="bench", event_time=True), bodies)  # type: ignore[arg-type]
            hits = sum(len(h) for h, _ in kept.batches)
            rounds, reads = [], []
            for n in range(args.repeats):
                with ExceptionLog(Path(tmp) / f"{name}-{n}.duckdb") as log:
                    rounds.append(cpu(lambda g=log, k=kept: write_all(g, k.batches)))  # type: ignore[misc]
                    if n == args.repeats - 1:
                        ids = log.query("SELECT exception_id FROM exception_rows LIMIT 50")[1]
                        reads = [cpu(lambda g=log, i=i: g.query(_SHOW, list(i))) for i in ids]  # type: ignore[misc]
            per_span = statistics.median(rounds) / args.spans * 1e6
            read_ms = statistics.median(reads) * 1e3 if reads else 0.0
            print(f"{name:<10} {hits:>7} {per_span:>14.1f} {read_ms:>13.2f}")


if __name__ == "__main__":
    main()
