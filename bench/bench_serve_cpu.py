"""`spansift serve`'s CPU per span against protobuf parse-only of the same bodies.

For each of `bench_core.py`'s workloads (agent-only, ordinary-only, mixed fan-out) a
fresh `spansift serve` (default pack, its own DuckDB file, loopback) receives the same
serialized OTLP/HTTP protobuf requests (512 spans each) from one keep-alive sender that
waits out 503s; the figure is the server process's CPU time (user + system, all its
threads: HTTP intake, validation, spool, worker, DuckDB) from its first request until
every span is processed and the traces have closed (the server's CPU settles; its idle
rate, measured before, is taken off), divided by the CPU time `ExportTraceServiceRequest.FromString`
takes over the same bodies in this process. Wall time is printed but not compared
(shared machines swing several times over).

    python bench/bench_serve_cpu.py [--spans 50000] [--workload all]
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


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


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


def serve_cpu(bodies: list[bytes], spans: int, workdir: Path) -> tuple[float, float]:
    """Server CPU and wall seconds to take in and process `bodies`."""
    proc, port, _ = start_server(workdir)
    try:
        time.sleep(1.0)  # start-up work is not the figure
        idle = process_cpu(proc.pid)
        time.sleep(_SETTLE_S)
        before, started = process_cpu(proc.pid), time.monotonic()
        idle_rate = (before - idle) / _SETTLE_S
        send_all(port, bodies)
        wait_processed(port, spans, timeout_s=600)
        time.sleep(_QUIET_S)  # traces close once quiet
        last = process_cpu(proc.pid)
        while True:
            time.sleep(_SETTLE_S)
            now = process_cpu(proc.pid)
            if now - last <= idle_rate * _SETTLE_S + 0.02:
                break
            last = now
        wall = time.monotonic() - started
        return now - before - idle_rate * wall, wall
    finally:
        stop_server(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    args = parser.parse_args()
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    print(f"{args.spans:,} spans per workload, OTLP/HTTP protobuf, default pack, CPU time")
    print(
        f"{'workload':<10} {'parse µs/span':>14} {'serve µs/span':>14} {'ratio':>7} {'wall s':>7}"
    )
    for name in names:
        bodies = [r.SerializeToString() for r in WORKLOADS[name](args.spans)]
        spans = parse(bodies)
        parse_s = min(cpu(lambda b=bodies: parse(b)) for _ in range(3))  # type: ignore[misc]
        with tempfile.TemporaryDirectory() as tmp:
            serve_s, wall = serve_cpu(bodies, spans, Path(tmp))
        p, s = parse_s / spans * 1e6, serve_s / spans * 1e6
        print(f"{name:<10} {p:>14.2f} {s:>14.1f} {parse_s / serve_s:>7.3f} {wall:>7.1f}")


if __name__ == "__main__":
    main()
