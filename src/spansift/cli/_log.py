"""Reading the log: `spansift ls`, `query` and `stats`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import click

from spansift.cli._common import db_option, fail, read_query
from spansift.cli._output import FORMATS, render
from spansift.cli._remote import receiver_section, token_option
from spansift.store.rows import utc_now

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
LS_COLUMNS = 'id, "when", workflow, "type", severity, subject, summary, owner, status'


def parse_duration(text: str) -> timedelta:
    """`30m`, `24h`, `7d`, `2w` as a timedelta."""
    found = _DURATION.match(text)
    if not found:
        fail(f"--since {text!r}: use a number and a unit, e.g. 30m, 24h, 7d or 2w")
        raise AssertionError  # unreachable
    amount, unit = found.groups()
    return timedelta(**{_UNITS[unit]: int(amount)})


def _format_option(func: Any) -> Any:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output format.",
    )(func)


def _print(columns: tuple[str, ...], rows: list[tuple[Any, ...]], fmt: str) -> None:
    text = render(columns, rows, fmt)
    if text:
        click.echo(text)


@click.command("ls")
@db_option
@click.option("--since", help="Only exceptions newer than this, e.g. 24h or 7d.")
@click.option("--workflow", help="Only this workflow.")
@click.option("--type", "exception_type", help="Only this exception type, e.g. tool_error.")
@click.option("--status", help="Only this status, e.g. open.")
@click.option("--limit", default=50, show_default=True, help="At most this many rows.")
@_format_option
@token_option
def ls(
    db: str,
    since: str | None,
    workflow: str | None,
    exception_type: str | None,
    status: str | None,
    limit: int,
    fmt: str,
) -> None:
    """List exceptions, newest first (the `exception_view` view)."""
    where: list[str] = []
    params: list[Any] = []
    if since:
        where.append("occurred_at >= ?")
        params.append(utc_now() - parse_duration(since))
    for column, value in (("workflow", workflow), ('"type"', exception_type), ("status", status)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    sql = f"SELECT {LS_COLUMNS} FROM exception_view"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" LIMIT {int(limit)}"
    columns, rows = read_query(db, sql, params)
    _print(columns, rows, fmt)


@click.command()
@click.argument("sql")
@db_option
@_format_option
@token_option
def query(sql: str, db: str, fmt: str) -> None:
    """Run a read-only SQL query over the log, e.g. "SELECT * FROM exception_view"."""
    columns, rows = read_query(db, sql)
    _print(columns, rows, fmt)


@click.command()
@db_option
@token_option
def stats(db: str) -> None:
    """Totals of the log: exceptions by type and workflow, evidence gaps, schema."""
    _, totals = read_query(
        db,
        "SELECT count(*), count(*) FILTER (WHERE status = 'open'), "
        "min(occurred_at), max(occurred_at) FROM exceptions",
    )
    columns, by_workflow = read_query(db, "SELECT * FROM exceptions_by_workflow_type")
    gap_columns, gaps = read_query(db, "SELECT * FROM evidence_gap_view")
    _, version = read_query(db, "SELECT max(version) FROM schema_version")
    total, open_count, first, last = totals[0]
    click.echo(f"database: {db} (schema version {version[0][0]})")
    click.echo(f"exceptions: {total:,} ({open_count:,} open)")
    if total:
        click.echo(f"occurred: {first:%Y-%m-%d %H:%M:%S} .. {last:%Y-%m-%d %H:%M:%S} UTC")
        click.echo("")
        click.echo(render(columns, by_workflow, "table"))
    lost = sum(row[3] for row in gaps)
    click.echo("")
    click.echo(f"evidence gaps: {len(gaps)} ({lost:,} spans never seen)")
    if gaps:
        click.echo(render(gap_columns, gaps, "table"))
    receiver = receiver_section(db)
    if receiver:
        click.echo("")
        click.echo(receiver)
