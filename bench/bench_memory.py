"""Peak memory of `spansift ingest` over a large file: the bound on what the core holds.

Writes `--spans` spans of one of `bench_core.py`'s workloads (default: mixed, about 7%
GenAI spans, 1M spans) as an OTLP protobuf stream (the Collector file exporter's
format), runs the real CLI (`python -m spansift ingest`, default pack, a fresh DuckDB
file) on it in a child process, and reports the child's peak resident memory (ru_maxrss)
and CPU time. The target is under 1 GiB for 1M spans. The child reports its own peak
(VmHWM, which starts afresh at exec): the parent's rusage would count the workload this
script built, which a forked child shares until it execs.

    python bench/bench_memory.py [--spans 1000000] [--workload mixed]
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _agent_spans import write_stream
from bench_core import WORKLOADS

# Runs the CLI as `python -m spansift` would, then prints the process's own peak RSS.
_CHILD = """
import atexit, runpy, sys
def peak():
    with open("/proc/self/status") as status:
        sys.stderr.write("".join(l for l in status if l.startswith("VmHWM")))
atexit.register(peak)
sys.argv = sys.argv[1:]
runpy.run_module("spansift", run_name="__main__")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--workload", choices=list(WORKLOADS), default="mixed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{args.workload}.pb"
        size = write_stream(str(path), WORKLOADS[args.workload](args.spans))
        print(f"file: {args.spans:,} {args.workload} spans, {size / 2**20:.0f} MiB")
        argv = ["spansift", "ingest", str(path), "--db", str(Path(tmp) / "log.duckdb")]
        command = [sys.executable, "-c", _CHILD, *argv]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(f"ingest failed ({done.returncode}): {done.stderr.strip()}")
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        peak = int(re.findall(r"VmHWM:\s+(\d+) kB", done.stderr)[-1]) / 1024
        print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "")
        print(
            f"ingest: peak RSS {peak:.0f} MiB; CPU {cpu:.1f} s "
            f"({cpu / args.spans * 1e6:.1f} us/span); wall {wall:.1f} s"
        )


if __name__ == "__main__":
    main()
