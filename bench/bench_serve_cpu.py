"""`spansift serve`'s CPU per span against protobuf parse-only of the same bodies.

For each of `bench_core.py`'s workloads (agent-only, ordinary-only, mixed fan-out) a
fresh `spansift serve` (default pack, its own DuckDB file, loopback) receives the same
serialized OTLP/HTTP protobuf requests (512 spans each) from one keep-alive sender that
waits out 503s; the figure is the server process's CPU time (user + system, all its
threads: HTTP intake, validation, spool, worker, DuckDB) from its first request until
every span is processed and the traces have closed (the server's CPU settles; its idle
rate, measured before, is taken off), divided by the CPU time `ExportTraceServiceRequest.FromString`
takes over the same bodies in this process. With a judge process (`--judges 1`) its CPU
counts too: the figure is the whole receiver's, split into its own process and the
judge's; "2-core spans/s" is what the busiest of them allows with a core each (the whole
CPU time with no judge), the stable figure behind throughput. Wall time is printed but
not compared (shared machines swing several times over).

    python bench/bench_serve_cpu.py [--spans 50000] [--workload all] [--judges 0 --judges 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_core import WORKLOADS, cpu, parse
from bench_serve import Client, start_server, stop_server, wait_processed

_TICK = os.sysconf("SC_CLK_TCK")
_QUIET_S = 2.5  # serve closes a trace 2 s after its root ended
_SETTLE_S = 0.5


def process_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) used so far by the process, and by its children (a judge)."""
    out = []
    for group in ([pid], _children(pid)):
        total = 0.0
        for one in group:
            try:
                fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += (int(fields[11]) + int(fields[12])) / _TICK
        out.append(total)
    return out[0], out[1]


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found = [int(c) for c in (task / "children").read_text().split()]
        out += found
        for child in found:
            out += _children(child)
    return out


def send_all(port: int, bodies: list[bytes]) -> None:
    client = Client(port)
    try:
        for body in bodies:
            while True:
                status, _, retry_after = client.post("/v1/traces", body, "application/x-protobuf")
                if status == 200:
                    break
                if status != 503:
                    msg = f"unexpected status {status}"
                    raise RuntimeError(msg)
                time.sleep(min(float(retry_after or 1), 0.05))
    finally:
        client.close()


def serve_cpu(
    bodies: list[bytes], spans: int, workdir: Path, judges: int | None = None
) -> tuple[float, float, float]:
    """Server CPU (its own process, its judge) and wall seconds to take in and process `bodies`."""
    proc, port, _ = start_server(workdir, judges=judges)
    try:
        time.sleep(1.0)  # start-up work is not the figure
        idle = process_cpu(proc.pid)
        time.sleep(_SETTLE_S)
        before, started = process_cpu(proc.pid), time.monotonic()
        idle_rate = [(b - i) / _SETTLE_S for b, i in zip(before, idle, strict=True)]
        send_all(port, bodies)
        wait_processed(port, spans, timeout_s=600)
        time.sleep(_QUIET_S)  # traces close once quiet
        last = sum(process_cpu(proc.pid))
        while True:
            time.sleep(_SETTLE_S)
            now = process_cpu(proc.pid)
            if sum(now) - last <= sum(idle_rate) * _SETTLE_S + 0.02:
                break
            last = sum(now)
        wall = time.monotonic() - started
        own, judge = (n - b - r * wall for n, b, r in zip(now, before, idle_rate, strict=True))
        return own, judge, wall
    finally:
        stop_server(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    parser.add_argument(
        "--judges", type=int, action="append",
        help="serve --judges values to measure side by side [default: 0 and 1]",
    )  # fmt: skip
    args = parser.parse_args()
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    print(f"{args.spans:,} spans per workload, OTLP/HTTP protobuf, default pack, CPU time")
    print(
        f"{'workload':<10} {'judges':>6} {'parse µs/span':>14} {'serve µs/span':>14} "
        f"{'own':>6} {'judge':>6} {'ratio':>7} {'wall s':>7} {'2-core spans/s':>15}"
    )
    for name in names:
        bodies = [r.SerializeToString() for r in WORKLOADS[name](args.spans)]
        spans = parse(bodies)
        parse_s = min(cpu(lambda b=bodies: parse(b)) for _ in range(3))  # type: ignore[misc]
        for judges in args.judges or [0, 1]:
            with tempfile.TemporaryDirectory() as tmp:
                own_s, judge_s, wall = serve_cpu(bodies, spans, Path(tmp), judges)
            serve_s = own_s + judge_s
            p, s, o, j = (x / spans * 1e6 for x in (parse_s, serve_s, own_s, judge_s))
            # With two cores to itself the receiver goes as fast as its busiest process.
            bound = spans / max(own_s, judge_s, serve_s if judges == 0 else 0.0)
            print(
                f"{name:<10} {judges:>6} {p:>14.2f} {s:>14.1f} {o:>6.1f} {j:>6.1f} "
                f"{parse_s / serve_s:>7.3f} {wall:>7.1f} {bound:>15,.0f}"
            )


if __name__ == "__main__":
    main()
