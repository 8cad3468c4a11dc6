"""Every hit the pipeline makes on the corpora and the bench workloads, as text to diff.

A performance change must not change a single output. Run this before and after and
compare the two files: for each labelled corpus run (as `quality.py` loads it) and each
bench workload (agent, mixed, ordinary; ids made deterministic; with and without the
sift), every hit's row (detection time fixed), item, match, fields in order, span and
context, then the run state, losses and run counts each commit writes.

    python bench/outputs.py before.txt [--spans 6000]
    ... change ...
    python bench/outputs.py after.txt && cmp before.txt after.txt
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).parent))
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import quality
from _agent_spans import requests as agent_requests
from _workloads import mixed_requests, ordinary_requests
from bench_core import drive
from spansift.drive import Driver
from spansift.model import Hit, Span
from spansift.pipeline import Pipeline
from spansift.rules import load_ruleset
from spansift.sift import Sifter
from spansift.sources.otlp_json import parse_json
from spansift.store.rows import hit_row

DETECTED = datetime(2000, 1, 1)
WORKLOADS: dict[str, Callable[[int], list[ExportTraceServiceRequest]]] = {
    "agent": agent_requests,
    "mixed": mixed_requests,
    "ordinary": ordinary_requests,
}


def dump_hit(out: IO[str], hit: Hit) -> None:
    out.write(f"{hit_row(hit, DETECTED)!r}\n")
    out.write(f"  item={hit.item!r} incomplete={hit.incomplete!r} match={hit.match!r}\n")
    out.write(f"  fields={list(hit.fields.items())!r}\n")
    out.write(f"  span={hit.span!r}\n")
    out.write(f"  context={[(s.trace_id, s.span_id) for s in hit.context]!r}\n")


class TextLog:
    """Stands in for `ExceptionLog` under a `Driver`: writes what it is given as text."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, hits: list[Hit], run_state: Any = None) -> int:
        for hit in hits:
            dump_hit(self.out, hit)
        if run_state is not None:
            self.out.write(f"run state {run_state!r}\n")
        return len(hits)

    def record_losses(self, source: str, losses: Any) -> None:
        self.out.write(f"losses {losses!r}\n")

    def record_runs(self, runs: Any) -> None:
        self.out.write(f"runs {runs!r}\n")


def scenarios() -> Iterator[tuple[str, Pipeline, list[Span]]]:
    """Each labelled corpus run as `quality.py` loads it: label, a fresh pipeline, spans."""
    for folder in quality.stacks():
        contracts = folder / "spansift.yaml"
        ruleset = load_ruleset(None, contracts if contracts.is_file() else None)
        for name in quality.labels(folder)["scenarios"]:
            spans = parse_json((folder / f"{name}.json").read_bytes())
            if ruleset.agent_only:
                spans = Sifter(ruleset.contracts.signals).spans(spans)
            yield f"{folder.name}/{name}", Pipeline(ruleset), spans


def corpora(out: IO[str]) -> None:
    for label, pipeline, spans in scenarios():
        out.write(f"== {label}\n")
        for hit in pipeline.spans(spans) + pipeline.finish():
            dump_hit(out, hit)
        out.write(f"counts {pipeline.counts!r} losses {pipeline.take_losses()!r}\n")


@contextmanager
def seeded_ids(seed: int) -> Iterator[None]:
    """`os.urandom` (the workloads' ids) from a seeded generator, for repeatable output."""
    rng = random.Random(seed)
    real = os.urandom
    os.urandom = rng.randbytes
    try:
        yield
    finally:
        os.urandom = real


def workloads(out: IO[str], spans: int) -> None:
    ruleset = load_ruleset()
    for name, make in WORKLOADS.items():
        with seeded_ids(42):
            bodies = [r.SerializeToString() for r in make(spans)]
        for sift in (True, False):
            out.write(f"== workload {name} sift={sift}\n")
            log: Any = TextLog(out)
            driver = Driver(ruleset, log, source="bench", event_time=True, sift=sift)
            drive(driver, bodies)
            out.write(f"hits {driver.done.hits} seen {driver.spans_seen}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path)
    parser.add_argument("--spans", type=int, default=6000, help="spans per workload")
    args = parser.parse_args()
    with args.target.open("w") as out:
        corpora(out)
        workloads(out, args.spans)
    print(f"wrote {args.target}")


if __name__ == "__main__":
    main()
