"""Ingest throughput: `spansift ingest`'s path vs. protobuf parse-only, in one run.

Generates an OTLP protobuf file (the Collector file exporter's proto stream) of
agent-like spans, then measures round-robin, several repeats each:

- parse-only: read the stream and `ParseFromString` every request;
- ingest with the default rule pack: the same loop `spansift ingest` runs
  (read, normalize, rules, trace assembly, DuckDB writes into a fresh file);
- ingest with the default pack's span rules only (trace and run rules off);
- ingest with an empty rule pack.

Prints medians and the ratios the project tracks: ingest / parse-only (target
>= 0.10), span rules / empty pack (target >= 0.7), and trace rules on / off.

    python bench/bench_ingest.py [--spans 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).parent))
from _agent_spans import requests, write_stream
from spansift.ingest import ingest_paths
from spansift.rules import RuleSet, load_ruleset
from spansift.store.log import ExceptionLog


def parse_only(path: Path) -> int:
    spans = 0
    with path.open("rb") as f:
        while header := f.read(4):
            (size,) = struct.unpack(">I", header)
            req = ExportTraceServiceRequest()
            req.ParseFromString(f.read(size))
            spans += sum(len(s.spans) for rs in req.resource_spans for s in rs.scope_spans)
    return spans


def ingest_once(path: Path, ruleset: RuleSet, workdir: Path, n: int) -> tuple[int, int]:
    db = workdir / f"bench-{n}.duckdb"
    with ExceptionLog(db) as log:
        result = ingest_paths([path], ruleset, log)
    db.unlink()
    return result.spans, result.hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path = workdir / "agent-spans.pb"
        size = write_stream(str(path), requests(args.spans))
        empty_dir = workdir / "empty-pack"
        empty_dir.mkdir()
        default_pack = load_ruleset()
        span_pack = RuleSet(
            [r for r in default_pack.all_rules if r.spec.scope == "span"], default_pack.contracts
        )
        empty_pack = load_ruleset([empty_dir], default_rules=False)
        print(
            f"file: {args.spans:,} spans, {size / 2**20:.1f} MiB; default pack: "
            f"{len(default_pack)} rules ({len(span_pack)} span rules)"
        )

        times: dict[str, list[float]] = {
            "parse-only": [],
            "ingest (default)": [],
            "ingest (span rules)": [],
            "ingest (empty)": [],
        }
        hits = 0
        for n in range(args.repeats):
            start = time.perf_counter()
            assert parse_only(path) == args.spans
            times["parse-only"].append(time.perf_counter() - start)

            start = time.perf_counter()
            spans, hits = ingest_once(path, default_pack, workdir, n)
            times["ingest (default)"].append(time.perf_counter() - start)
            assert spans == args.spans

            start = time.perf_counter()
            ingest_once(path, span_pack, workdir, n)
            times["ingest (span rules)"].append(time.perf_counter() - start)

            start = time.perf_counter()
            ingest_once(path, empty_pack, workdir, n)
            times["ingest (empty)"].append(time.perf_counter() - start)

        rate = {name: args.spans / statistics.median(t) for name, t in times.items()}
        for name, spans_per_s in rate.items():
            print(f"{name:>18}: {spans_per_s:>11,.0f} spans/s  (median of {args.repeats})")
        print(f"{'exceptions found':>18}: {hits:,} per run")
        parse = rate["parse-only"]
        for name in ("ingest (default)", "ingest (span rules)"):
            print(f"ratio {name}/parse-only: {rate[name] / parse:.3f} (target >= 0.10)")
        pack = rate["ingest (span rules)"] / rate["ingest (empty)"]
        print(f"ratio span rules/empty pack: {pack:.3f} (target >= 0.70)")
        traces = rate["ingest (default)"] / rate["ingest (span rules)"]
        print(f"ratio trace rules on/off: {traces:.3f}")


if __name__ == "__main__":
    main()
