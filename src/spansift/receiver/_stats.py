"""Receiver counters, shared by the front ends and the worker.

Every method takes a lock, so counters may be bumped from any thread; a
snapshot is a plain dict for `GET /spansift/stats`.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class Counters:
    """Totals since the receiver started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self.requests_accepted = 0
        self.spans_received = 0
        self.spans_rejected = 0
        self.rejected_by_reason: dict[str, int] = {}
        self.spans_processed = 0
        self.exceptions_found = 0
        self.exceptions_written = 0
        self.records_processed = 0
        self.worker_errors = 0
        self.last_error = ""

    def accepted(self, spans: int) -> None:
        with self._lock:
            self.requests_accepted += 1
            self.spans_received += spans

    def rejected(self, reason: str, spans: int = 0) -> None:
        """Count a refused request; `spans` only when the body was decoded."""
        with self._lock:
            self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + 1
            self.spans_rejected += spans

    def processed(self, records: int, spans: int, found: int, written: int) -> None:
        with self._lock:
            self.records_processed += records
            self.spans_processed += spans
            self.exceptions_found += found
            self.exceptions_written += written

    def error(self, message: str) -> None:
        with self._lock:
            self.worker_errors += 1
            self.last_error = message

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "uptime_s": round(time.time() - self.started, 3),
                "requests_accepted": self.requests_accepted,
                "spans_received": self.spans_received,
                "spans_rejected": self.spans_rejected,
                "requests_rejected": dict(sorted(self.rejected_by_reason.items())),
                "spans_processed": self.spans_processed,
                "exceptions_found": self.exceptions_found,
                "exceptions_written": self.exceptions_written,
                "worker_errors": self.worker_errors,
                "last_error": self.last_error,
            }
