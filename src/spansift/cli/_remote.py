"""CLI side of a running receiver: the `--token` option, remote reads and the stats section."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import click

from spansift.cli._output import Result
from spansift.remote import (
    RemoteError,
    RemoteUnavailableError,
    find_server,
    remote_result,
    remote_stats,
)

TOKEN_KEY = "spansift.token"


def _remember_token(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta[TOKEN_KEY] = value


def token_option(func: Any) -> Any:
    """`--token` for commands that may talk to a running receiver (stored in `ctx.meta`)."""
    return click.option(
        "--token",
        envvar="SPANSIFT_TOKEN",
        expose_value=False,
        callback=_remember_token,
        help="Bearer token of a running `spansift serve`. Prefer the env var SPANSIFT_TOKEN: "
        "a --token value is visible to other local users in the process list.",
    )(func)


def current_token() -> str | None:
    """The token given to the running command, else `SPANSIFT_TOKEN`."""
    ctx = click.get_current_context(silent=True)
    token = ctx.meta.get(TOKEN_KEY) if ctx is not None else None
    return token or os.environ.get("SPANSIFT_TOKEN") or None


def receiver_stats(db: str) -> dict[str, Any] | None:
    """The counters of the receiver serving `db` (with its `url`), `{"error": ...}` when it
    does not answer, None when there is none."""
    info = find_server(db)
    if info is None:
        return None
    try:
        doc = remote_stats(info, current_token())
    except (RemoteError, RemoteUnavailableError) as exc:
        return {"url": info.url, "error": str(exc)}
    return {"url": info.url, **doc}


def receiver_lines(db: str, doc: dict[str, Any]) -> list[str]:
    """The `receiver:` lines of `spansift stats`."""
    if "error" in doc:
        return [f"receiver: {doc['error']}"]
    rejected = ", ".join(f"{k} {v:,}" for k, v in doc["requests_rejected"].items()) or "none"
    return [
        f"receiver: pid {doc['pid']} at {doc['url']}, up {doc['uptime_s']:,.0f} s, "
        f"{doc['rules']} rules",
        f"  spans received {doc['spans_received']:,}, rejected {doc['spans_rejected']:,}, "
        f"processed {doc['spans_processed']:,}",
        f"  requests accepted {doc['requests_accepted']:,}; rejected: {rejected}",
        f"  exceptions found {doc['exceptions_found']:,}, "
        f"written {doc['exceptions_written']:,} new",
        f"  spool backlog {doc['spool_backlog_requests']:,} requests "
        f"({doc['spool_backlog_bytes']:,} bytes), worker errors {doc['worker_errors']:,}",
    ]


def remote_read(db: str, sql: str, params: Sequence[Any] | None) -> Result | None:
    """Run SQL through the receiver serving `db`; None when no receiver answers.

    `RemoteError` when the receiver answered with an error.
    """
    info = find_server(db)
    if info is None:
        return None
    try:
        columns, types, rows = remote_result(info, sql, params, current_token())
    except RemoteUnavailableError:
        return None
    return Result(columns, rows, types)
