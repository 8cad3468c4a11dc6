"""Reading the review loop: `spansift review`, `suggest` and `grants`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import click

from spansift.cli._act import submit
from spansift.cli._common import db_option, fail, read_query
from spansift.cli._log import format_option
from spansift.cli._output import cell, dump, plain, table, terminal_width
from spansift.cli._remote import token_option
from spansift.cli._when import TIME_HELP, parse_time, window
from spansift.cli._write import emit, out_option, writable_file
from spansift.decide.owners import load_section
from spansift.errors import SpansiftError
from spansift.notify.webhooks import deliver, parse_hooks, payload
from spansift.review.grants import reconcile
from spansift.review.html import render_html
from spansift.review.render import render_json, render_markdown, render_text
from spansift.review.report import BY, build_review
from spansift.review.suggest import suggestions
from spansift.rules._select import CONTRACTS_FILE
from spansift.store.rows import utc_now


def _fetch(db: str) -> Any:
    def fetch(sql: str, params: Sequence[Any]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        return read_query(db, sql, params)

    return fetch


@click.command()
@db_option
@click.option(
    "--since",
    default="7d",
    show_default=True,
    help=f"Window start: 24h daily, 7d weekly, or {TIME_HELP}.",
)
@click.option("--until", help=f"Window end [default: now]: {TIME_HELP}.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "markdown", "html", "json")),
    default="table",
    show_default=True,
    help="Terminal tables, Markdown, one self-contained HTML page, or one JSON document.",
)
@click.option(
    "--by",
    type=click.Choice(BY),
    default="workflow",
    show_default=True,
    help="Group counts by workflow and type, or by the controls rows evidence.",
)
@out_option
@token_option
def review(db: str, since: str, until: str | None, fmt: str, by: str, out: str | None) -> None:
    """The review of a window: patterns in triage order, owners, metrics, the autonomy signal."""
    if out:
        writable_file(out, "--out")  # before the queries, not after
    start, end = window(since, until)
    end = end or utc_now()
    assert start is not None  # --since has a default
    result = build_review(_fetch(db), end - start, now=end, by=by)
    if fmt == "html":
        text = render_html(result)
    elif fmt == "json":
        text = render_json(result)
    elif fmt == "markdown":
        text = render_markdown(result)
    else:
        text = render_text(result, None if out else terminal_width())
    emit(text, out)


@click.command()
@db_option
@click.option("--since", default="30d", show_default=True, help=f"Look back to: {TIME_HELP}.")
@click.option("--min", "minimum", default=3, show_default=True, help="Repeats before suggesting.")
@format_option(("text", "json"), "text")
@out_option
@token_option
def suggest(db: str, since: str, minimum: int, fmt: str, out: str | None) -> None:
    """Repeated patterns that should become a contract change, a grant, a rule or an eval case."""
    start = parse_time(since, "--since")
    found = suggestions(_fetch(db), start, minimum)
    if fmt == "json":
        fields = ("kind", "agent", "tool", "count", "since", "change", "follow_up")
        emit(dump([{f: plain(getattr(s, f)) for f in fields} for s in found]), out)
        return
    if not found:
        emit(f"no pattern repeated {minimum}+ times since {cell(start)}", out)
        return
    emit(
        "\n".join(
            f"{s.kind:<8} {s.agent} / {s.tool}: {s.count}x since {s.since:%Y-%m-%d}\n"
            f"         {s.change} (follow-up: {s.follow_up})"
            for s in found
        ),
        out,
    )


@click.command("grants")
@db_option
@token_option
def grants_report(db: str) -> None:
    """Standing approvals reconciled with execution: uses, never used, beyond scope, expired."""
    columns, rows, findings = reconcile(_fetch(db), utc_now())
    if not rows:
        click.echo("no grants")
        return
    click.echo("\n".join(table(columns, rows, terminal_width())))
    click.echo("")
    for finding in findings or ["every grant was used within its scope"]:
        click.echo(finding)


_PENDING_SQL = """
SELECT e.exception_id, e.occurred_at, e.workflow, e.exception_type, e.severity, e.rule_id,
       e.agent, e.tool, e.summary, e.status, e.trace_id, e.span_id, e.owner
FROM exceptions e
WHERE e.occurred_at >= ? AND e.status IN ('open', 'regressed')
  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries w
                  WHERE w.exception_id = e.exception_id AND w.delivered AND w.hook = ?)
  -- a pattern `serve` already pushed to this hook is not posted again row by row
  AND NOT EXISTS (SELECT 1 FROM notifications n JOIN exception_patterns p
                  ON p.fingerprint = n.fingerprint
                  WHERE p.exception_id = e.exception_id AND n.hook = ? AND n.state = 'delivered')
ORDER BY e.occurred_at
"""


@click.command()
@db_option
@click.option(
    "--since", default="24h", show_default=True, help=f"Notify about rows from: {TIME_HELP}."
)
@click.option(
    "--webhooks",
    "hooks_file",
    type=click.Path(exists=True, dir_okay=False),
    help=f"Webhook targets (YAML `webhooks:` list) [default: ./{CONTRACTS_FILE}].",
)
@token_option
def notify(db: str, since: str, hooks_file: str | None) -> None:
    """POST open and regressed exceptions to matching webhooks (catching up); outcomes logged.

    `spansift serve` and the processor push one message per new or regressed pattern as
    rows are written; `notify` posts what is still undelivered, row by row.
    """
    path = hooks_file or (CONTRACTS_FILE if os.path.exists(CONTRACTS_FILE) else None)
    try:
        hooks = parse_hooks(load_section(path, "webhooks"), path) if path else ()
    except SpansiftError as exc:
        fail(str(exc))
        return
    if not hooks:
        fail("no webhooks configured: pass --webhooks FILE or add `webhooks:` to spansift.yaml")
    start = parse_time(since, "--since")
    fetch = _fetch(db)
    for hook in hooks:
        columns, rows = fetch(_PENDING_SQL, [start, hook.name, hook.name])
        outcomes: list[list[Any]] = []
        for raw in rows:
            row = dict(zip(columns, raw, strict=True))
            if hook.wants(row):
                result = deliver(hook, payload(row))
                outcomes.append([row["exception_id"], hook.name, result.attempts,
                                 result.delivered, result.http_status, result.error])  # fmt: skip
        if outcomes:
            submit(db, {"op": "deliveries", "rows": outcomes})
        sent = sum(1 for o in outcomes if o[3])
        failed = [o for o in outcomes if not o[3]]
        line = f"{hook.name}: {sent} delivered, {len(failed)} failed"
        if failed:
            line += f" (last error: {failed[-1][5]})"
        click.echo(line)
