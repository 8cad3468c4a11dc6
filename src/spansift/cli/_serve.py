"""`spansift serve`: the sidecar OTLP receiver, in the foreground until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from dataclasses import replace
from types import FrameType

import click

from spansift.cli._common import (
    db_option,
    load_rules,
    owner_rules,
    owners_option,
    private_files,
    rules_options,
    webhook_targets,
)
from spansift.cli._keep import keep_options, keeping
from spansift.cli._serve_log import Summary, say
from spansift.cli._serve_start import check_tls, start
from spansift.notify.webhooks import Hook
from spansift.receiver import Limits, ReceiverConfig, RuleSource
from spansift.rules import RuleSet


def _pushing(hooks: Sequence[Hook]) -> str:
    return f", pushing to {len(hooks)} webhook{'s' if len(hooks) != 1 else ''}" if hooks else ""


@click.command()
@db_option
@rules_options
@owners_option
@click.option(
    "--host",
    envvar="SPANSIFT_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; loopback unless you say otherwise (env SPANSIFT_HOST).",
)
@click.option(
    "--grpc-port",
    envvar="SPANSIFT_GRPC_PORT",
    type=click.IntRange(0, 65535),
    default=4317,
    show_default=True,
    help="OTLP/gRPC port; 0 picks a free one. Beside a Collector use 14317 "
    "(env SPANSIFT_GRPC_PORT).",
)
@click.option(
    "--http-port",
    envvar="SPANSIFT_HTTP_PORT",
    type=click.IntRange(0, 65535),
    default=4318,
    show_default=True,
    help="OTLP/HTTP port (also serves /health and SQL); 0 picks a free one. Beside a "
    "Collector use 14318 (env SPANSIFT_HTTP_PORT).",
)
@click.option(
    "--token",
    envvar="SPANSIFT_TOKEN",
    help="Require `Authorization: Bearer TOKEN` on both protocols. Prefer the env var "
    "SPANSIFT_TOKEN: a --token value is visible to every local user in the process list "
    "(/proc/PID/cmdline). Without it, review writes still need the token generated in "
    "<db>.token (mode 0600).",
)
@click.option(
    "--max-body-mib",
    type=click.IntRange(1, 1024),
    default=20,
    show_default=True,
    help="Largest request, compressed or not (413 above it).",
)
@click.option(
    "--max-backlog-mib",
    type=click.IntRange(1),
    default=12,
    show_default=True,
    help="Unprocessed spool bytes above which requests get 503 / UNAVAILABLE.",
)
@click.option(
    "--max-backlog-requests",
    type=click.IntRange(1),
    default=2048,
    show_default=True,
    help="Unprocessed spooled requests above which requests get 503 / UNAVAILABLE.",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(0.1),
    default=10.0,
    show_default=True,
    help="Seconds an HTTP request's header may take to arrive once it has started.",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(0.1),
    default=60.0,
    show_default=True,
    help="Seconds an HTTP request's body may take to arrive (408 after that).",
)
@click.option(
    "--grpc-workers",
    type=click.IntRange(1, 256),
    default=16,
    show_default=True,
    help="gRPC handler threads; 4x this many calls run at once, more get UNAVAILABLE.",
)
@click.option(
    "--memory-limit-mib",
    type=click.IntRange(64),
    default=1024,
    show_default=True,
    help="DuckDB memory bound, for writes and for queries through the receiver alike.",
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="Seconds SIGTERM/SIGINT may take to drain the spool.",
)
@click.option(
    "--run-window",
    type=click.FloatRange(1),
    default=300.0,
    show_default=True,
    help="Seconds a session stays open after its last trace, e.g. for an approval to be "
    "answered; open sessions survive restarts.",
)
@click.option(
    "--tls-cert",
    envvar="SPANSIFT_TLS_CERT",
    type=click.Path(dir_okay=False),
    help="PEM certificate (with its chain): both protocols use TLS (env SPANSIFT_TLS_CERT).",
)
@click.option(
    "--tls-key",
    envvar="SPANSIFT_TLS_KEY",
    type=click.Path(dir_okay=False),
    help="PEM private key of --tls-cert (env SPANSIFT_TLS_KEY).",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Log each request (protocol, peer, status, spans) and each batch written.",
)
@click.option(
    "--summary-every",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    help="Seconds between one-line summaries of what arrived and was found; 0 for none.",
)
@click.option(
    "--webhooks",
    "hooks_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Push one message per new or regressed pattern to these webhooks (YAML `webhooks:` "
    "list) [default: the contracts file, else ./spansift.yaml].",
)
@click.option(
    "--otel-export/--no-otel-export",
    envvar="SPANSIFT_OTEL_EXPORT",
    default=False,
    show_default=True,
    help="Emit each new exception and decision as an OTLP log record, plus metrics, to the "
    "endpoint of the standard OTEL_EXPORTER_OTLP_* variables (env SPANSIFT_OTEL_EXPORT).",
)
@keep_options
@click.option(
    "--judges",
    type=click.IntRange(0, 1),
    default=1,
    show_default=True,
    help="Processes judging spans beside the receiver's own (intake, spool, database): 1 "
    "uses a second core; 0 judges on a thread of the receiver. One at most: a session's "
    "traces must be judged in one place.",
)
@click.option(
    "--test-pause-file",
    hidden=True,
    help="Testing only: while this file exists the worker processes nothing.",
)
def serve(
    db: str,
    rule_paths: tuple[str, ...],
    contracts: str | None,
    no_default_rules: bool,
    owners: str | None,
    host: str,
    grpc_port: int,
    http_port: int,
    token: str | None,
    max_body_mib: int,
    max_backlog_mib: int,
    max_backlog_requests: int,
    header_timeout: float,
    body_timeout: float,
    grpc_workers: int,
    memory_limit_mib: int,
    shutdown_timeout: float,
    run_window: float,
    tls_cert: str | None,
    tls_key: str | None,
    verbose: bool,
    summary_every: float,
    hooks_file: str | None,
    otel_export: bool,
    keep_traces: bool,
    keep_max: int,
    judges: int,
    test_pause_file: str | None,
) -> None:
    """Receive OTLP traces (gRPC and HTTP) and keep the exception log up to date.

    A request is acknowledged only once it is fsynced to the spool beside the
    database (<db>.spool/); a crash loses nothing that was acknowledged. While it
    runs, `spansift ls/query/stats/export` read through it.
    """
    check_tls(tls_cert, tls_key)
    ruleset = load_rules(rule_paths, contracts, no_default_rules=no_default_rules)
    hooks = webhook_targets(hooks_file, contracts)
    limits = Limits(
        max_body_bytes=max_body_mib << 20,
        max_backlog_bytes=max_backlog_mib << 20,
        max_backlog_requests=max_backlog_requests,
        header_timeout_s=header_timeout,
        body_timeout_s=body_timeout,
    )
    config = ReceiverConfig(
        db=db, host=host, grpc_port=grpc_port, http_port=http_port, token=token or None,
        limits=limits, shutdown_timeout_s=shutdown_timeout, grpc_workers=grpc_workers,
        memory_limit_mib=memory_limit_mib, pause_file=test_pause_file,
        run_window_s=run_window, tls_cert=tls_cert, tls_key=tls_key,
        request_log=say if verbose else None,
        owners=owner_rules(owners, contracts), otel_export=otel_export, hooks=tuple(hooks),
        judges=judges, rules=RuleSource(rule_paths, contracts, not no_default_rules),
    )  # fmt: skip
    # The log, its WAL, the spool and the token are evidence: readable by the owner only.
    with private_files(), keeping(db, keep_traces, keep_max, say) as keeper:
        _run(replace(config, keeper=keeper), ruleset, summary_every)


def _run(config: ReceiverConfig, ruleset: RuleSet, summary_every: float) -> None:
    receiver = start(config, ruleset)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    recovery = receiver.recovery
    if recovery is not None and (
        recovery.records or recovery.torn_records or recovery.skipped_records
    ):
        say(
            f"replaying {recovery.records:,} spooled requests "
            f"({recovery.torn_records} torn records truncated, {recovery.torn_bytes:,} bytes; "
            f"{recovery.skipped_records} damaged records skipped, "
            f"{recovery.skipped_bytes:,} bytes)"
        )
    restored = receiver.restored_run_traces
    if restored:
        say(f"restored {restored:,} traces of sessions still open (waiting for a resume)")
    tls = ", tls on both" if config.tls_cert else ""
    host = config.host
    say(
        f"otlp grpc {host}:{receiver.grpc_port}, otlp http {host}:{receiver.http_port}{tls}, "
        f"db {config.db}, {len(ruleset)} rules{_pushing(config.hooks)}; ready"
    )
    where = "$SPANSIFT_TOKEN" if config.token else f"{config.db}.token"
    say(f"review page: {receiver.base_url}/review?token=TOKEN (the token is in {where})")
    summary = Summary(summary_every, receiver.stats())
    while not stop.wait(min(1.0, summary_every or 1.0)):
        if summary.due():
            say(summary.line(receiver.stats()))
    say("stopping: draining the spool")
    report = receiver.stop()
    counters = receiver.counters
    if report.drained:
        say(
            f"stopped in {report.seconds:.1f} s; {counters.spans_received:,} spans received, "
            f"{counters.exceptions_written:,} new exceptions written, spool empty"
        )
    else:
        say(
            f"shutdown deadline passed; {report.backlog_requests:,} requests stay in the spool "
            "and are processed on the next start",
            err=True,
        )
