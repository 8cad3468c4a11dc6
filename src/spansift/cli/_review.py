"""Reading the review loop: `spansift review`, `suggest` and `grants`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from spansift.cli._common import CONTRACTS_FILE, db_option, fail, read_query
from spansift.cli._log import parse_duration
from spansift.cli._output import render
from spansift.cli._remote import token_option
from spansift.errors import SpansiftError
from spansift.review.grants import reconcile
from spansift.review.html import render_html
from spansift.review.owners import OwnerRule, load_owners
from spansift.review.render import render_markdown, render_text
from spansift.review.report import build_review
from spansift.review.suggest import suggestions
from spansift.store.log import utc_now


def _fetch(db: str) -> Any:
    def fetch(sql: str, params: Sequence[Any]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        return read_query(db, sql, params)

    return fetch


def owner_rules(path: str | None) -> tuple[OwnerRule, ...]:
    """Routing rules from --owners, else the `owners:` section of ./spansift.yaml."""
    if path is None and os.path.exists(CONTRACTS_FILE):
        path = CONTRACTS_FILE
    if path is None:
        return ()
    try:
        return load_owners(path)
    except SpansiftError as exc:
        fail(str(exc))
        raise


def owners_option(func: Any) -> Any:
    return click.option(
        "--owners",
        type=click.Path(exists=True, dir_okay=False),
        help=f"Owner routing rules (YAML `owners:` list) [default: ./{CONTRACTS_FILE}].",
    )(func)


@click.command()
@db_option
@click.option("--since", default="7d", show_default=True, help="Window: 24h daily, 7d weekly.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "markdown", "html")),
    default="table",
    show_default=True,
    help="Terminal tables, Markdown, or one self-contained HTML page.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file, not stdout.")
@owners_option
@token_option
def review(db: str, since: str, fmt: str, out: str | None, owners: str | None) -> None:
    """The review of a window: patterns, owners, follow-ups and the autonomy signal."""
    result = build_review(_fetch(db), parse_duration(since), owner_rules(owners))
    if fmt == "html":
        text = render_html(result)
    elif fmt == "markdown":
        text = render_markdown(result) + "\n"
    else:
        text = render_text(result) + "\n"
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")
    else:
        click.echo(text, nl=False)


@click.command()
@db_option
@click.option("--since", default="30d", show_default=True, help="Look this far back.")
@click.option("--min", "minimum", default=3, show_default=True, help="Repeats before suggesting.")
@token_option
def suggest(db: str, since: str, minimum: int) -> None:
    """Repeated patterns that should become a contract change, a grant, a rule or an eval case."""
    start = utc_now() - parse_duration(since)
    found = suggestions(_fetch(db), start, minimum)
    if not found:
        click.echo(f"no pattern repeated {minimum}+ times since {start:%Y-%m-%d %H:%M} UTC")
        return
    for s in found:
        click.echo(
            f"{s.kind:<8} {s.agent} / {s.tool}: {s.count}x since {s.since:%Y-%m-%d}\n"
            f"         {s.change} (follow-up: {s.follow_up})"
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
    click.echo(render(columns, rows, "table"))
    click.echo("")
    for finding in findings or ["every grant was used within its scope"]:
        click.echo(finding)
