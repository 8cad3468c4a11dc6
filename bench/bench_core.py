"""The core's CPU cost against protobuf parse-only of the same bodies, side by side in one run.

For each workload (agent-only, ordinary-only, mixed fan-out with ~7% GenAI spans all in
one scope group, and the same spans packed as a Collector batch: per service resource and
instrumentation scope) the same serialized OTLP requests go, round-robin over several
repeats, through

- parse: `ExportTraceServiceRequest.FromString` of every body, nothing else;
- core: the drive loop every source shares (`spansift.drive.Driver`, event time, the
  default rule pack, configured as `ingest` runs it): decode, normalize, assemble, judge,
  write to a fresh DuckDB file (opened, with its schema, outside the measure).

CPU time (`time.process_time`, all threads) is the figure, because wall time on shared
machines swings several times over; the ratio parse / core is what the project tracks
(1.0 would be "as cheap as parsing"). Prints µs of CPU per span and the ratio per workload.

    python bench/bench_core.py [--spans 50000] [--repeats 3] [--workload all]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).parent))
from _agent_spans import requests as agent_requests
from _workloads import collector_requests, mixed_requests, ordinary_requests
from spansift.drive import Driver
from spansift.rules import RuleSet, load_ruleset
from spansift.sources.otlp_proto import decode_request
from spansift.store.log import ExceptionLog

WORKLOADS: dict[str, Callable[[int], list[ExportTraceServiceRequest]]] = {
    "agent": agent_requests,
    "ordinary": ordinary_requests,
    "mixed": mixed_requests,
    "collector": collector_requests,
}
COMMIT_EVERY = 16  # requests between commits, as the receiver's batches


def parse(bodies: list[bytes]) -> int:
    spans = 0
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        spans += sum(len(s.spans) for rs in request.resource_spans for s in rs.scope_spans)
    return spans


def core(bodies: list[bytes], ruleset: RuleSet, log: ExceptionLog) -> int:
    return drive(Driver(ruleset, log, source="bench", event_time=True), bodies)


def drive(driver: Driver, bodies: list[bytes]) -> int:
    """Feed `bodies` as ingest does (a commit every `COMMIT_EVERY`); the hits written."""
    for n, body in enumerate(bodies, 1):
        driver.request(decode_request(body), body=body)
        if n % COMMIT_EVERY == 0:
            driver.tick()
            driver.commit()
    driver.finish()
    driver.commit()
    return driver.done.hits


def cpu(work: Callable[[], object]) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


def arguments(description: str, spans: int) -> tuple[argparse.Namespace, list[str]]:
    """`--spans`, `--repeats` and `--workload`; the workloads chosen."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--spans", type=int, default=spans)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    args = parser.parse_args()
    return args, list(WORKLOADS) if args.workload == "all" else [args.workload]


def main() -> None:
    args, names = arguments(__doc__.splitlines()[0], 50_000)
    ruleset = load_ruleset()
    print(f"{args.spans:,} spans per workload, {args.repeats} rounds, default pack, CPU time")
    print(f"{'workload':<10} {'parse µs/span':>14} {'core µs/span':>13} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            bodies = [r.SerializeToString() for r in WORKLOADS[name](args.spans)]
            spans = parse(bodies)
            parse_s, core_s = [], []
            for n in range(args.repeats):
                parse_s.append(cpu(lambda b=bodies: parse(b)))  # type: ignore[misc]
                # A fresh log each round, opened (schema created) outside the measure.
                with ExceptionLog(Path(tmp) / f"{name}-{n}.duckdb") as log:
                    core_s.append(cpu(lambda b=bodies, g=log: core(b, ruleset, g)))  # type: ignore[misc]
            p, c = statistics.median(parse_s), statistics.median(core_s)
            print(f"{name:<10} {p / spans * 1e6:>14.2f} {c / spans * 1e6:>13.1f} {p / c:>7.3f}")


if __name__ == "__main__":
    main()
