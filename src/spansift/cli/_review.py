"""Reading the review loop: `spansift review`, `suggest` and `grants`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from spansift.cli._common import CONTRACTS_FILE, db_option, fail, read_query
from spansift.cli._log import parse_duration
from spansift.cli._remote import token_option
from spansift.errors import SpansiftError
from spansift.review.html import render_html
from spansift.review.owners import OwnerRule, load_owners
from spansift.review.render import render_markdown, render_text
from spansift.review.report import build_review


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
