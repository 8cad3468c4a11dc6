"""`Receiver`: the sidecar's parts wired together, from start to a drained stop.

    HTTP / gRPC threads --validate--> spool (fsync) --ack-->
    worker thread: spool --> Driver (pipeline) --> ExceptionLog.write (one transaction per batch)
                   --> spool.consume (segments deleted)
    with `judges=1` the driver's pipeline runs in a judge process (`_judge`), fed the
    spooled bytes, so the receiver uses two cores.

Threading contract: `start` and `stop` are called from one controlling thread
(the CLI's main thread). Everything else runs on threads the receiver owns.
`stop` blocks until the backlog is drained or the shutdown deadline passes.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spansift._private import discovery_path, load_or_create_token, read_private, write_private
from spansift.decide.owners import OwnerRule, router
from spansift.drive import Driver
from spansift.export import OtelExport, attach_otel
from spansift.notify.push import Notifier
from spansift.notify.webhooks import Hook
from spansift.receiver._grpc import start_grpc
from spansift.receiver._http import OtlpHttpServer
from spansift.receiver._intake import Intake, Limits
from spansift.receiver._judge import JudgedPipeline, RuleSource
from spansift.receiver._query import QueryService, lock_down
from spansift.receiver._requestlog import GrpcLog, LoggedCounters, LoggedIntake, log_http
from spansift.receiver._review_http import ReviewPages, reader
from spansift.receiver._spool import Recovery, Spool
from spansift.receiver._stats import Counters
from spansift.receiver._tls import grpc_credentials, server_context, wrap_http
from spansift.receiver._worker import Worker
from spansift.review.actions import ActionError, apply
from spansift.store.kept import TraceKeeper
from spansift.store.log import ExceptionLog
from spansift.traces import AssemblyLimits

if TYPE_CHECKING:
    import grpc

    from spansift.rules import RuleSet


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
    memory_limit_mib: int = 1024  # DuckDB's own default is 80% of RAM, for queries too
    pause_file: str | None = None
    run_window_s: float = 300.0
    tls_cert: str | None = None  # PEM certificate (with chain) and key: both listeners use TLS
    tls_key: str | None = None
    request_log: Callable[[str], None] | None = None  # `serve -v`: a line per request and batch
    owners: tuple[OwnerRule, ...] = ()  # routing applied as rows are written
    otel_export: bool | None = None  # exceptions and decisions out as OTLP; None: the env var
    hooks: tuple[Hook, ...] = ()  # webhooks pushed one message per new or regressed pattern
    judges: int = 0  # 1: the pipeline runs in a judge process (loading `rules`); 0: in-process
    rules: RuleSource = field(default_factory=RuleSource)
    keeper: TraceKeeper | None = None  # keeps closed traces for `rederive` (--keep-traces)


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
        self.counters = LoggedCounters(config.request_log) if config.request_log else Counters()
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
        self._key = secrets.token_hex(32)  # proves to clients that this process is the receiver
        self._announced = False
        self._otel: OtelExport | None = None
        self._notifier: Notifier | None = None

    def start(self) -> None:
        """Open the log, replay the spool, listen; raises SpansiftError, OSError or RuntimeError."""
        config = self.config
        log = self.log = ExceptionLog(config.db)  # fails fast if another process holds the file
        log.con.execute(f"SET memory_limit = '{int(config.memory_limit_mib)}MB'")
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
        if spool.recovery.skipped_records:
            # A damaged record's spans never reach the rules: the review must see the gap.
            now = time.time_ns()
            log.record_gap(
                "receiver", now, now, 0,
                f"spool recovery skipped {spool.recovery.skipped_records} damaged records "
                f"({spool.recovery.skipped_bytes:,} bytes)",
            )  # fmt: skip
        intake_class = LoggedIntake if config.request_log else Intake
        self._intake = intake = intake_class(spool, self.counters, config.limits)
        limits = AssemblyLimits(run_window_s=config.run_window_s)
        judged = JudgedPipeline(self.ruleset, config.rules, limits) if config.judges else None
        driver = Driver(
            self.ruleset, log, source="receiver", limits=limits, pipeline=judged,
            keeper=config.keeper,
        )  # fmt: skip
        self._worker = Worker(spool, driver, self.counters, pause_file=config.pause_file)
        self._worker.start()
        # Review writes always need a token: the one given, else one kept beside the database.
        act_token = config.token or load_or_create_token(config.db)
        self._http = OtlpHttpServer(
            (config.host, config.http_port), intake, queries, self.stats, config.token
        )
        self.http_port = self._http.server_address[1]
        if config.tls_cert and config.tls_key:
            wrap_http(self._http, server_context(config.tls_cert, config.tls_key), self.counters)
        if config.request_log:
            log_http(self._http, config.request_log)
        self._http.act = self._act
        self._http.act_token = act_token
        self._http.identity_key = self._key
        self._http.suspended = log.is_suspended
        self._http.alive = self._worker.alive
        # The page writes decisions: it needs the same token as `/spansift/act`.
        self._http.review = ReviewPages(reader(log.con), self._act, act_token)
        log.set_fingerprints(self.ruleset.fingerprints())
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.2},
            name="spansift-http", daemon=True,
        )  # fmt: skip
        self._http_thread.start()
        self._grpc, self.grpc_port = start_grpc(
            config.host, config.grpc_port, intake, config.token, workers=config.grpc_workers,
            interceptors=(GrpcLog(config.request_log),) if config.request_log else (),
            credentials=grpc_credentials(config.tls_cert, config.tls_key)
            if config.tls_cert and config.tls_key else None,
        )  # fmt: skip
        self._announce()

    @property
    def restored_run_traces(self) -> int:
        """Traces of open sessions the log gave back at start."""
        return self._worker.restored_traces if self._worker is not None else 0

    def _act(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A review write from `POST /spansift/act`, on the writer's connection and lock."""
        assert self.log is not None
        try:
            return apply(self.log, doc, self.ruleset.contracts)
        except ActionError as exc:
            raise ValueError(str(exc)) from None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.config.tls_cert else "http"
        return f"{scheme}://{_url_host(self.config.host)}:{self.http_port}"

    def _announce(self) -> None:
        doc = {
            "pid": os.getpid(),
            "url": self.base_url,
            "query_url": self.base_url + "/spansift/query",
            "grpc": f"{_url_host(self.config.host)}:{self.grpc_port}",
            "db": os.path.abspath(self.config.db),
            "token_required": bool(self.config.token),
            # Local clients trust this certificate for the query URL (it may name another host).
            "tls_cert": os.path.abspath(self.config.tls_cert) if self.config.tls_cert else None,
            "key": self._key,
            "started_at": time.time(),
        }
        write_private(discovery_path(self.config.db), json.dumps(doc))
        self._announced = True

    def _withdraw(self) -> None:
        """Remove the discovery file, but only our own: a failed second start leaves it alone."""
        if not self._announced:
            return
        path = discovery_path(self.config.db)
        text = read_private(path)
        try:
            ours = text is not None and json.loads(text).get("key") == self._key
        except ValueError:
            ours = False
        if ours:
            path.unlink(missing_ok=True)

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
            doc["damaged_records_skipped"] = self.recovery.skipped_records
        worker = self._worker
        doc["worker_alive"] = bool(worker and worker.alive())
        doc["last_commit_at"] = worker.committed_at if worker else 0.0
        doc["restored_run_traces"] = worker.restored_traces if worker else 0
        doc["quarantined"] = worker.driver.done.quarantined if worker else 0
        judge = worker.judge if worker else None
        doc["judge_pid"] = judge.pid if judge else None
        doc["judge_starts"] = judge.starts if judge else 0
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
        self._withdraw()
        return StopReport(
            drained, backlog_requests, backlog_bytes, round(time.monotonic() - started, 3)
        )
