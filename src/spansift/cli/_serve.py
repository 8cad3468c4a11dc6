"""`spansift serve` (the sidecar OTLP receiver) and `spansift export --parquet|evals`."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import click
import duckdb

from spansift.cli._common import (
    db_option,
    fail,
    load_rules,
    owner_rules,
    owners_option,
    read_query,
    rules_options,
    webhook_targets,
)
from spansift.cli._remote import current_token, token_option
from spansift.errors import SpansiftError
from spansift.receiver import Limits, Receiver, ReceiverConfig
from spansift.remote import (
    RemoteError,
    RemoteUnavailableError,
    find_server,
    remote_export,
    remote_query,
)
from spansift.review.evals import eval_cases, select_ids
from spansift.review.webhooks import Hook
from spansift.store.log import ExceptionLog

# Every table, plus the `exceptions` view (the rows with their review state) that users read.
_TABLES_SQL = (
    "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
    "AND schema_name = 'main' AND NOT temporary UNION SELECT view_name FROM duckdb_views() "
    "WHERE database_name = current_database() AND schema_name = 'main' "
    "AND view_name = 'exceptions' ORDER BY 1"
)


def _pushing(hooks: Sequence[Hook]) -> str:
    return f", pushing to {len(hooks)} webhook{'s' if len(hooks) != 1 else ''}" if hooks else ""


def _say(text: str) -> None:
    click.echo(f"spansift serve: {text}")
    sys.stdout.flush()


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
    help="Require `Authorization: Bearer TOKEN` on both protocols (env SPANSIFT_TOKEN).",
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
    "--shutdown-timeout",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="Seconds SIGTERM/SIGINT may take to drain the spool.",
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
@click.option(
    "--test-pause-file",
    hidden=True,
    help="Testing only: while this file exists the worker processes nothing.",
)
def serve(
    db: str,
    rule_paths: tuple[str, ...],
    contracts: str | None,
    owners: str | None,
    host: str,
    grpc_port: int,
    http_port: int,
    token: str | None,
    max_body_mib: int,
    max_backlog_mib: int,
    max_backlog_requests: int,
    shutdown_timeout: float,
    hooks_file: str | None,
    otel_export: bool,
    test_pause_file: str | None,
) -> None:
    """Receive OTLP traces (gRPC and HTTP) and keep the exception log up to date.

    A request is acknowledged only once it is fsynced to the spool beside the
    database (<db>.spool/); a crash loses nothing that was acknowledged. While it
    runs, `spansift ls/query/stats/export` read through it.
    """
    ruleset = load_rules(rule_paths, contracts)
    hooks = webhook_targets(hooks_file, contracts)
    limits = Limits(
        max_body_bytes=max_body_mib << 20,
        max_backlog_bytes=max_backlog_mib << 20,
        max_backlog_requests=max_backlog_requests,
    )
    config = ReceiverConfig(
        db=db, host=host, grpc_port=grpc_port, http_port=http_port, token=token or None,
        limits=limits, shutdown_timeout_s=shutdown_timeout, pause_file=test_pause_file,
        owners=owner_rules(owners, contracts), otel_export=otel_export, hooks=hooks,
    )  # fmt: skip
    receiver = Receiver(config, ruleset)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        receiver.start()
    except (SpansiftError, OSError, RuntimeError) as exc:
        receiver.stop()
        fail(f"cannot start: {exc}")
    recovery = receiver.recovery
    if recovery is not None and (recovery.records or recovery.torn_records):
        _say(
            f"replaying {recovery.records:,} spooled requests "
            f"({recovery.torn_records} torn records truncated, {recovery.torn_bytes:,} bytes)"
        )
    _say(
        f"otlp grpc {host}:{receiver.grpc_port}, otlp http {host}:{receiver.http_port}, "
        f"db {db}, {len(ruleset)} rules{_pushing(hooks)}; ready"
    )
    while not stop.wait(1.0):
        pass
    _say("stopping: draining the spool")
    report = receiver.stop()
    counters = receiver.counters
    if report.drained:
        _say(
            f"stopped in {report.seconds:.1f} s; {counters.spans_received:,} spans received, "
            f"{counters.exceptions_written:,} new exceptions written, spool empty"
        )
    else:
        click.echo(
            f"spansift serve: shutdown deadline passed; {report.backlog_requests:,} requests stay "
            "in the spool and are processed on the next start",
            err=True,
        )


@click.group(invoke_without_command=True)
@db_option
@click.option(
    "--parquet",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Folder for one <table>.parquet per table (created if missing).",
)
@token_option
@click.pass_context
def export(ctx: click.Context, db: str, out_dir: str | None) -> None:
    """Write a Parquet snapshot of the log's tables (`--parquet DIR`), or eval cases (`evals`).

    Both read through a running receiver if there is one.
    """
    if ctx.invoked_subcommand is not None:
        return
    if out_dir is None:
        fail("pass --parquet DIR, or use `spansift export evals`")
        return
    _export_parquet(db, out_dir)


@export.command("evals")
@click.argument("ids", nargs=-1)
@db_option
@click.option(
    "--follow-up",
    "follow_up",
    default="eval_case",
    show_default=True,
    help="Without IDs: every exception whose follow-up is this.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="JSONL file.")
@token_option
def export_evals(ids: tuple[str, ...], db: str, follow_up: str, out: str) -> None:
    """Write chosen exceptions (IDs, or by follow-up) with their evidence as JSONL eval cases."""

    def fetch(sql: str, params: Sequence[Any]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        return read_query(db, sql, params)

    try:
        chosen = select_ids(fetch, ids, follow_up)
    except ValueError as exc:
        fail(str(exc))
        return
    target = Path(out)
    tmp = target.with_name(target.name + ".part")
    with tmp.open("w", encoding="utf-8") as f:
        for case in eval_cases(fetch, chosen):
            f.write(json.dumps(case, ensure_ascii=False, sort_keys=True, default=str) + "\n")
    os.replace(tmp, target)
    click.echo(f"wrote {len(chosen)} eval case{'s' if len(chosen) != 1 else ''} to {out}")


def _export_parquet(db: str, out_dir: str) -> None:
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    info = find_server(db)
    tables: list[str] = []
    if info is not None:
        try:
            _, rows = remote_query(info, _TABLES_SQL, None, current_token())
            tables = [str(r[0]) for r in rows]
            for table in tables:
                remote_export(info, table, target / f"{table}.parquet", current_token())
        except RemoteUnavailableError:
            info = None
        except RemoteError as exc:
            fail(str(exc))
    if info is None:
        tables = _export_direct(db, target)
    click.echo(f"exported {len(tables)} tables to {target}: {', '.join(tables)}")


def _export_direct(db: str, target: Path) -> list[str]:
    if not Path(db).exists():
        fail(f"no exception log at {db}: pass --db")
    try:
        log = ExceptionLog(db, read_only=True)
    except SpansiftError as exc:
        fail(str(exc))
        raise
    with log:
        _, rows = log.query(_TABLES_SQL)
        tables = [str(r[0]) for r in rows]
        for table in tables:
            dest = target / f"{table}.parquet"
            tmp = dest.with_name(dest.name + ".part")
            quoted = str(tmp).replace("'", "''")
            try:
                log.con.execute(f"COPY (SELECT * FROM \"{table}\") TO '{quoted}' (FORMAT parquet)")
            except duckdb.Error as exc:
                fail(f"export of {table} failed: {exc}")
            os.replace(tmp, dest)
    return tables
