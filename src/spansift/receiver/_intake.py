"""Admission: the one path from a validated request to an acknowledgement.

Both front ends call `Intake.submit`. It bounds in-flight requests and the
spool backlog, validates the body and appends it to the spool; when it
returns, the request's spans are on disk and may be acknowledged.

Threading contract: `submit` is called concurrently from HTTP and gRPC
threads and blocks for decode plus one (group-committed) fsync.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from spansift.receiver._spool import Spool, SpoolClosedError
from spansift.receiver._stats import Counters
from spansift.receiver._wire import TRACES, Accepted, validate


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of the receiver; sizes in bytes.

    `header_timeout_s` and `body_timeout_s` bound how long one HTTP request's header
    and body may take to arrive, so slow peers cannot hold connection slots.
    """

    max_body_bytes: int = 20 << 20
    max_backlog_bytes: int = 32 << 20
    max_backlog_requests: int = 2048
    max_inflight: int = 32
    retry_after_s: int = 1
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0


STOPPING = "stopping"
BACKLOG = "backlog"
INFLIGHT = "inflight"
SPOOL_ERROR = "spool_error"


class BusyError(Exception):
    """Try again later: the backlog or the in-flight bound is full, or the receiver is stopping."""

    def __init__(self, reason: str, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s


class Intake:
    """Validates and spools requests for the front ends."""

    def __init__(self, spool: Spool, counters: Counters, limits: Limits) -> None:
        self.spool = spool
        self.counters = counters
        self.limits = limits
        self._inflight = threading.BoundedSemaphore(limits.max_inflight)
        self._stopping = False

    def stop(self) -> None:
        """Refuse new requests with `BusyError`; requests already admitted still finish."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    def busy(self) -> BusyError | None:
        """Why a request would be refused now, before its body is read; None if it would not."""
        limits = self.limits
        if self._stopping:
            return BusyError(STOPPING, "receiver is shutting down", limits.retry_after_s)
        backlog_bytes, backlog_requests = self.spool.backlog()
        if (
            backlog_requests >= limits.max_backlog_requests
            or backlog_bytes >= limits.max_backlog_bytes
        ):
            message = (
                f"backlog full ({backlog_requests} requests, {backlog_bytes:,} bytes not yet "
                "processed); retry later"
            )
            return BusyError(BACKLOG, message, limits.retry_after_s)
        return None

    def submit(self, kind: int, body: bytes, signal: str = TRACES) -> Accepted:
        """Validate and durably spool one request body (already decompressed) of `signal`.

        Raises `BusyError` (retry later), or `BadBodyError` from validation.
        """
        busy = self.busy()
        if busy is not None:
            raise busy
        if not self._inflight.acquire(blocking=False):
            msg = f"more than {self.limits.max_inflight} requests in flight; retry later"
            raise BusyError(INFLIGHT, msg, self.limits.retry_after_s)
        try:
            accepted = validate(kind, body, signal)
            if accepted.spans:
                try:
                    self.spool.append(accepted.kind, accepted.payload)
                except SpoolClosedError:
                    msg = "receiver is shutting down"
                    raise BusyError(STOPPING, msg, self.limits.retry_after_s) from None
                except OSError as exc:
                    msg = f"cannot write the spool: {exc}"
                    raise BusyError(SPOOL_ERROR, msg, self.limits.retry_after_s) from None
        finally:
            self._inflight.release()
        self.counters.accepted(accepted.spans)
        return accepted
