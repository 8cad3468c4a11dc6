"""What keeping traces costs, and what a rederive over them costs, side by side in one run.

For each workload (as `bench_core.py`: agent-only, ordinary-only, mixed fan-out, Collector
batch) the same serialized requests go, round-robin over several repeats, through the
drive loop as `ingest` runs it (event time, default pack, a fresh DuckDB file per round):

- off: keeping off (what `bench_core.py` measures as "core");
- keep: with `--keep-traces` on for that file: the closed traces' records redacted and
  written as Parquet beside it (the cap far above what is written);
- rederive: `spansift rederive --dry-run` over what the keep round kept, default pack:
  read back, drive on event time, compare with the log.

CPU time (`time.process_time`, all threads, DuckDB's included) per span offered; also the
spans kept and the Parquet bytes per kept span. Only marked traces are kept, so on
ordinary traffic keeping costs next to nothing.

    python bench/bench_keep.py [--spans 50000] [--repeats 3] [--workload all]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_core import WORKLOADS, arguments, cpu, drive, parse
from spansift.drive import Driver
from spansift.rederive import Rederived, rederive
from spansift.rules import RuleSet, load_ruleset
from spansift.store.kept import TraceKeeper, folder_of, kept_files
from spansift.store.log import ExceptionLog

EPOCH = datetime(1970, 1, 1)


def ingest(bodies: list[bytes], ruleset: RuleSet, db: Path, keep: bool) -> float:
    """CPU seconds of one ingest-like drive into a fresh log at `db`."""
    with ExceptionLog(db) as log:  # schema created outside the measure
        keeper = TraceKeeper(db, 1 << 40) if keep else None
        driver = Driver(ruleset, log, source="bench", event_time=True, keeper=keeper)
        return cpu(lambda: drive(driver, bodies))


def rederive_once(db: Path, ruleset: RuleSet) -> tuple[float, int]:
    """CPU seconds of a dry-run rederive over what `db` kept, and the spans it read."""
    found: list[Rederived] = []
    with ExceptionLog(db, read_only=True) as log:
        seconds = cpu(lambda: found.append(rederive(db, log, ruleset, EPOCH, dry_run=True)))
    assert not found[0].changes, "the same pack must find no difference"
    return seconds, found[0].spans


HEAD = ("workload", "parse µs", "off µs", "keep µs", "keep/off", "kept", "B/kept", "rederive µs")


def main() -> None:
    args, names = arguments(__doc__.splitlines()[0], 50_000)
    ruleset = load_ruleset()
    print(f"{args.spans:,} spans per workload, {args.repeats} rounds, default pack, CPU time")
    print("{:<10} {:>9} {:>8} {:>8} {:>9} {:>7} {:>7} {:>12}".format(*HEAD))
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            bodies = [r.SerializeToString() for r in WORKLOADS[name](args.spans)]
            spans = parse(bodies)
            parse_s, off_s, keep_s, again_s = [], [], [], []
            kept = size = 0
            for n in range(args.repeats):
                parse_s.append(cpu(lambda b=bodies: parse(b)))  # type: ignore[misc]
                off_s.append(ingest(bodies, ruleset, Path(tmp) / f"{name}-off-{n}.duckdb", False))
                db = Path(tmp) / f"{name}-keep-{n}.duckdb"
                keep_s.append(ingest(bodies, ruleset, db, True))
                files = kept_files(folder_of(db))
                size = sum(f.stat().st_size for f in files)
                seconds, kept = rederive_once(db, ruleset)
                again_s.append(seconds)
            p, off, keep = (statistics.median(x) for x in (parse_s, off_s, keep_s))
            rerun = statistics.median(again_s)
            per_kept = size / kept if kept else 0.0
            print(
                f"{name:<10} {p / spans * 1e6:>9.2f} {off / spans * 1e6:>8.1f} "
                f"{keep / spans * 1e6:>8.1f} {keep / off:>9.3f} {kept:>7,} {per_kept:>7.0f} "
                f"{rerun / spans * 1e6:>12.1f}"
            )


if __name__ == "__main__":
    main()
