"""What `spansift serve` prints while it runs: `-v` lines and the periodic summary.

Lines come from the HTTP, gRPC and worker threads at once, so they are written
whole under one lock and flushed, which keeps them readable under a process
supervisor that captures stdout.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import click

_lock = threading.Lock()


def say(text: str, *, err: bool = False) -> None:
    """One `spansift serve: ...` line, written whole."""
    with _lock:
        click.echo(f"spansift serve: {text}", err=err)
        (sys.stderr if err else sys.stdout).flush()


class Summary:
    """The one-line summary of what changed since the last one."""

    def __init__(self, every_s: float, stats: dict[str, Any]) -> None:
        self.every_s = every_s
        self._last = stats
        self._due = time.monotonic() + every_s

    def due(self) -> bool:
        return self.every_s > 0 and time.monotonic() >= self._due

    def line(self, stats: dict[str, Any]) -> str:
        """`last 60 s: ...` from the counters now against the last summary's."""
        last, self._last = self._last, stats
        self._due = time.monotonic() + self.every_s

        def delta(key: str) -> int:
            return int(stats.get(key, 0)) - int(last.get(key, 0))

        was = last.get("requests_rejected", {})
        rejected = {k: v - was.get(k, 0) for k, v in stats.get("requests_rejected", {}).items()}
        refused = ", ".join(f"{k} {v:,}" for k, v in sorted(rejected.items()) if v) or "none"
        return (
            f"last {self.every_s:g} s: {delta('requests_accepted'):,} requests, "
            f"{delta('spans_received'):,} spans, {delta('exceptions_found'):,} exceptions found "
            f"({delta('exceptions_written'):,} new); rejected: {refused}; backlog "
            f"{int(stats.get('spool_backlog_requests', 0)):,} requests"
        )
