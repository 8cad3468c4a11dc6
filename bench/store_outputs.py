"""What the store keeps of every hit, as text to diff: exception rows and evidence spans.

`outputs.py` covers the pipeline up to the hits; this writes the same corpora and bench
workloads into a real DuckDB log and prints what readers see of it: every exception row
(detection time left out), every `evidence_spans` row (the span JSON as stored), and
whether the chain verifies. A change to how the store keeps evidence must not change a line.

    python bench/store_outputs.py before.txt [--spans 6000]
    ... change ...
    python bench/store_outputs.py after.txt && cmp before.txt after.txt
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).parent))
from bench_core import drive
from outputs import WORKLOADS, scenarios, seeded_ids
from spansift.drive import Driver
from spansift.rules import load_ruleset
from spansift.store.log import ExceptionLog
from spansift.store.rows import COLUMN_NAMES

_ROWS = ", ".join(c for c in COLUMN_NAMES if c != "detected_at")
_EVIDENCE = (
    "SELECT exception_id, span_id, trace_id, parent_span_id, name, status, start_at, end_at, "
    "offending, span FROM evidence_spans ORDER BY exception_id, trace_id, span_id"
)


def dump(out: IO[str], log: ExceptionLog) -> None:
    """The log's rows and evidence as readers query them, in a fixed order."""
    for row in log.query(f"SELECT {_ROWS} FROM exception_rows ORDER BY exception_id")[1]:
        out.write(f"{row!r}\n")
    for row in log.query(_EVIDENCE)[1]:
        out.write(f"  {row!r}\n")
    result = log.verify()
    out.write(f"verify ok={result.ok} findings={len(result.findings)}\n")


def corpora(out: IO[str], tmp: Path) -> None:
    for n, (label, pipeline, spans) in enumerate(scenarios()):
        out.write(f"== {label}\n")
        with ExceptionLog(tmp / f"corpus-{n}.duckdb") as log:
            log.write(pipeline.spans(spans))
            log.write(pipeline.finish())
            dump(out, log)


def workloads(out: IO[str], tmp: Path, spans: int) -> None:
    ruleset = load_ruleset()
    for name, make in WORKLOADS.items():
        with seeded_ids(42):
            bodies = [r.SerializeToString() for r in make(spans)]
        out.write(f"== workload {name}\n")
        with ExceptionLog(tmp / f"{name}.duckdb") as log:
            drive(Driver(ruleset, log, source="bench", event_time=True), bodies)
            dump(out, log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path)
    parser.add_argument("--spans", type=int, default=6000, help="spans per workload")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, args.target.open("w") as out:
        corpora(out, Path(tmp))
        workloads(out, Path(tmp), args.spans)
    print(f"wrote {args.target}")


if __name__ == "__main__":
    main()
