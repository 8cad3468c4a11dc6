"""Reading the log: `spansift ls`, `query` and `stats`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from spansift.cli._common import db_option, read_result
from spansift.cli._output import (
    FORMATS,
    Result,
    cut_note,
    dump,
    iso,
    records,
    render,
    table,
    terminal_width,
)
from spansift.cli._remote import receiver_lines, receiver_stats, token_option
from spansift.cli._when import since_until_options, status_option, type_option, window
from spansift.cli._write import emit, out_option

F = TypeVar("F", bound=Callable[..., Any])
LS_COLUMNS = (
    'id, occurred_at AS "when", workflow, "type", severity, subject, summary, owner, status'
)


def format_option(choices: tuple[str, ...] = FORMATS, default: str = "table") -> Callable[[F], F]:
    """`--format`, one of `choices`; `json` is one document, `jsonl` one object a line."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Output format.",
    )


def show_result(result: Result, fmt: str, out: str | None, note: str = "") -> None:
    """Print or write `result`; a "showing N of M" note ends a table, else goes to stderr."""
    text = render(result, fmt, None if out else terminal_width())
    if note and fmt == "table":
        text += f"\n{note}"
    elif note:
        click.echo(note, err=True)
    if text or out:
        emit(text, out)


@click.command("ls")
@db_option
@since_until_options
@click.option("--workflow", help="Only this workflow.")
@type_option
@status_option
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="At most this many rows (0: all).",
)
@format_option()
@out_option
@token_option
def ls(
    db: str,
    since: str | None,
    until: str | None,
    workflow: str | None,
    exception_type: str | None,
    status: str | None,
    limit: int,
    fmt: str,
    out: str | None,
) -> None:
    """List exceptions, newest first (the `exception_view` view)."""
    start, end = window(since, until)
    where: list[str] = []
    params: list[Any] = []
    for condition, value in (
        ("occurred_at >= ?", start),
        ("occurred_at < ?", end),
        ("workflow = ?", workflow),
        ('"type" = ?', exception_type),
        ("status = ?", status),
    ):
        if value:
            where.append(condition)
            params.append(value)
    filtered = " WHERE " + " AND ".join(where) if where else ""
    sql = f"SELECT {LS_COLUMNS} FROM exception_view{filtered}"
    result = read_result(db, sql + (f" LIMIT {limit}" if limit else ""), params)
    total = len(result.rows)
    if limit and total == limit:
        counted = read_result(db, f"SELECT count(*) FROM exception_view{filtered}", params)
        total = int(counted.rows[0][0])
    show_result(result, fmt, out, cut_note(len(result.rows), total))


@click.command()
@click.argument("sql")
@db_option
@format_option()
@out_option
@token_option
def query(sql: str, db: str, fmt: str, out: str | None) -> None:
    """Run a read-only SQL query over the log, e.g. "SELECT * FROM exception_view"."""
    show_result(read_result(db, sql), fmt, out)


_GAPS = (
    "SELECT source, first_at, last_at, lost_spans, reason FROM evidence_gaps ORDER BY last_at DESC"
)


@click.command()
@db_option
@format_option(("table", "json"))
@out_option
@token_option
def stats(db: str, fmt: str, out: str | None) -> None:
    """Totals of the log: exceptions by type and workflow, evidence gaps, the receiver."""
    totals = read_result(
        db,
        "SELECT count(*), count(*) FILTER (WHERE status = 'open'), "
        "min(occurred_at), max(occurred_at) FROM exceptions",
    ).rows[0]
    by_workflow = read_result(db, "SELECT * FROM exceptions_by_workflow_type")
    gaps = read_result(db, _GAPS)
    version = read_result(db, "SELECT max(version) FROM schema_version").rows[0][0]
    total, open_count, first, last = totals
    lost = sum(int(row[3]) for row in gaps.rows)
    receiver = receiver_stats(db)
    if fmt == "json":
        doc = {
            "database": db, "schema_version": version,
            "exceptions": {"total": total, "open": open_count,
                           "first": iso(first) if first else None,
                           "last": iso(last) if last else None},
            "by_workflow_type": records(by_workflow),
            "evidence_gaps": {"count": len(gaps.rows), "spans_lost": lost,
                              "gaps": records(gaps)},
            "receiver": receiver,
        }  # fmt: skip
        emit(dump(doc), out)
        return
    width = None if out else terminal_width()
    lines = [
        f"database: {db} (schema version {version})",
        f"exceptions: {total:,} ({open_count:,} open)",
    ]
    if total:
        lines += [
            f"occurred: {iso(first.replace(microsecond=0))} .. {iso(last.replace(microsecond=0))}",
            "",
        ]
        lines += table(by_workflow.columns, by_workflow.rows, width)
    lines += ["", f"evidence gaps: {len(gaps.rows)} ({lost:,} spans never seen)"]
    if gaps.rows:
        lines += table(gaps.columns, gaps.rows, width)
    if receiver is not None:
        lines += ["", *receiver_lines(db, receiver)]
    emit("\n".join(lines), out)
