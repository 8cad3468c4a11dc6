"""`Receiver`: the sidecar's parts wired together, from start to a drained stop.

    HTTP / gRPC threads --validate--> spool (fsync) --ack-->
    worker thread: spool --> Pipeline --> ExceptionLog.write (one transaction per batch)
                   --> spool.consume (segments deleted)

Threading contract: `start` and `stop` are called from one controlling thread
(the CLI's main thread). Everything else runs on threads the receiver owns.
`stop` blocks until the backlog is drained or the shutdown deadline passes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spansift.export import OtelExport, attach_otel
from spansift.pipeline import Pipeline
from spansift.receiver._grpc import start_grpc
from spansift.receiver._http import OtlpHttpServer
from spansift.receiver._intake import Intake, Limits
from spansift.receiver._query import QueryService, lock_down
from spansift.receiver._review_http import ReviewPages, reader
from spansift.receiver._spool import Recovery, Spool
from spansift.receiver._stats import Counters
from spansift.receiver._worker import Worker
from spansift.review.actions import ActionError, apply, sync_fingerprints
from spansift.review.owners import OwnerRule, router
from spansift.review.push import Notifier
from spansift.review.webhooks import Hook
from spansift.store.log import ExceptionLog

if TYPE_CHECKING:
    import grpc

    from spansift.rules import RuleSet


def discovery_path(db: str | Path) -> Path:
    """Where a running receiver announces itself: `<db>.serve.json` (never holds the token)."""
    return Path(f"{db}.serve.json")


def spool_path(db: str | Path) -> Path:
    return Path(f"{db}.spool")


def _url_host(host: str) -> str:
    """An address a local client can reach the listener on."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    """How to run a receiver. Ports 0 pick free ports; `pause_file` is a test hook."""

    db: str
    host: str = "127.0.0.1"
    grpc_port: int = 4317
    http_port: int = 4318
    token: str | None = None
    limits: Limits = field(default_factory=Limits)
    shutdown_timeout_s: float = 30.0
    grpc_workers: int = 16
    pause_file: str | None = None
    owners: tuple[OwnerRule, ...] = ()  # routing applied as rows are written
    otel_export: bool | None = None  # exceptions and decisions out as OTLP; None: the env var
    hooks: tuple[Hook, ...] = ()  # webhooks pushed one message per new or regressed pattern


@dataclass(frozen=True, slots=True)
class StopReport:
    """How `stop` went: whether the spool was drained and what is left in it."""

    drained: bool
    backlog_requests: int
    backlog_bytes: int
    seconds: float


class Receiver:
    """One sidecar: OTLP/HTTP and OTLP/gRPC listeners, a spool and a writer thread."""

    def __init__(self, config: ReceiverConfig, ruleset: RuleSet) -> None:
        self.config = config
        self.ruleset = ruleset
        self.counters = Counters()
        self.log: ExceptionLog | None = None
        self.spool: Spool | None = None
        self.recovery: Recovery | None = None
        self.http_port = 0
        self.grpc_port = 0
        self._http: OtlpHttpServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc: grpc.Server | None = None
        self._worker: Worker | None = None
        self._intake: Intake | None = None
        self._otel: OtelExport | None = None
        self._notifier: Notifier | None = None

    def start(self) -> None:
        """Open the log, replay the spool, listen; raises SpansiftError, OSError or RuntimeError."""
        config = self.config
        log = self.log = ExceptionLog(config.db)  # fails fast if another process holds the file
        log.route_owner = router(config.owners)
        self._otel = attach_otel(log, config.otel_export)
        if config.hooks:
            self._notifier = Notifier(log, config.hooks)
            log.listeners.append(self._notifier.listener)
            self._notifier.start()
        spool_dir = spool_path(config.db)
        spool_dir.mkdir(mode=0o700, exist_ok=True)  # raw requests may hold sensitive attributes
        export_dir = spool_dir / "export"
        lock_down(log.con, export_dir, Path(f"{config.db}.tmp"))
        queries = QueryService(log.con, export_dir)
        queries.clear_exports()
        spool = self.spool = Spool(spool_dir, max_record_bytes=config.limits.max_body_bytes)
        self.recovery = spool.recovery
        self._intake = intake = Intake(spool, self.counters, config.limits)
        pipeline = Pipeline(self.ruleset)
        self._worker = Worker(spool, pipeline, log, self.counters, pause_file=config.pause_file)
        self._worker.start()
        self._http = OtlpHttpServer(
            (config.host, config.http_port), intake, queries, self.stats, config.token
        )
        self.http_port = self._http.server_address[1]
        self._http.act = self._act
        self._http.suspended = log.is_suspended
        self._http.review = ReviewPages(reader(log.con), self._act, config.token)
        sync_fingerprints(log, self.ruleset)
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.2},
            name="spansift-http", daemon=True,
        )  # fmt: skip
        self._http_thread.start()
        self._grpc, self.grpc_port = start_grpc(
            config.host, config.grpc_port, intake, config.token, workers=config.grpc_workers
        )
        self._announce()

    def _act(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A review write from `POST /spansift/act`, on the writer's connection and lock."""
        assert self.log is not None
        try:
            return apply(self.log, doc, self.ruleset.contracts)
        except ActionError as exc:
            raise ValueError(str(exc)) from None

    @property
    def base_url(self) -> str:
        return f"http://{_url_host(self.config.host)}:{self.http_port}"

    def _announce(self) -> None:
        doc = {
            "pid": os.getpid(),
            "url": self.base_url,
            "query_url": self.base_url + "/spansift/query",
            "grpc": f"{_url_host(self.config.host)}:{self.grpc_port}",
            "db": os.path.abspath(self.config.db),
            "token_required": bool(self.config.token),
            "started_at": time.time(),
        }
        path = discovery_path(self.config.db)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, path)

    def stats(self) -> dict[str, Any]:
        """Counters and queue depth, as served at `GET /spansift/stats`."""
        doc = self.counters.snapshot()
        if self.spool is not None:
            backlog_bytes, backlog_requests = self.spool.backlog()
            doc["spool_backlog_requests"] = backlog_requests
            doc["spool_backlog_bytes"] = backlog_bytes
            doc["spool_segments"] = self.spool.segment_count()
        if self.recovery is not None:
            doc["replayed_requests"] = self.recovery.records
            doc["torn_records_truncated"] = self.recovery.torn_records
        worker = self._worker
        doc["worker_alive"] = bool(worker and worker.alive())
        doc["last_commit_at"] = worker.committed_at if worker else 0.0
        doc["rules"] = len(self.ruleset)
        doc["db"] = self.config.db
        doc["pid"] = os.getpid()
        return doc

    def stop(self) -> StopReport:
        """Stop accepting, drain the spool into the log, CHECKPOINT and close."""
        started = time.monotonic()
        deadline = started + self.config.shutdown_timeout_s
        if self._intake is not None:
            self._intake.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._grpc is not None:
            grace = max(0.0, min(5.0, deadline - time.monotonic()))
            self._grpc.stop(grace).wait(grace + 1)
        spool = self.spool
        drained = True
        if spool is not None:
            spool.close_for_appends()
            if self._worker is not None:
                drained = self._worker.stop(deadline)
        backlog_bytes, backlog_requests = spool.backlog() if spool else (0, 0)
        if self._notifier is not None:
            self._notifier.stop(deadline)  # what stays pending is sent after the next start
        if self._otel is not None:
            self._otel.shutdown()  # exports what is buffered while the log can still be read
        if self.log is not None and (self._worker is None or not self._worker.alive()):
            self.log.checkpoint()
            self.log.close()
        if spool is not None:
            spool.close()
        discovery_path(self.config.db).unlink(missing_ok=True)
        return StopReport(
            drained, backlog_requests, backlog_bytes, round(time.monotonic() - started, 3)
        )
