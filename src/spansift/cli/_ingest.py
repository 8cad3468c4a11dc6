"""`spansift ingest`: backfill the log from OTLP files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from spansift.cli._common import (
    db_option,
    fail,
    load_rules,
    owner_rules,
    owners_option,
    rules_options,
)
from spansift.errors import SpansiftError
from spansift.ingest import ingest_paths
from spansift.pipeline import Pipeline
from spansift.review.owners import router
from spansift.sources.files import iter_paths
from spansift.store.log import ExceptionLog

PROGRESS_MIN_BYTES = 8 << 20


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@db_option
@rules_options
@owners_option
def ingest(
    paths: tuple[Path, ...],
    db: str,
    rule_paths: tuple[str, ...],
    contracts: str | None,
    owners: str | None,
) -> None:
    """Read OTLP files (.json, .jsonl, .pb, optionally .gz) or folders of them into the log.

    Ingesting the same data twice adds no rows. A malformed line or file is reported
    with its location and skipped; everything else is still ingested, and the exit
    status is then 1.
    """
    ruleset = load_rules(rule_paths, contracts)
    routing = router(owner_rules(owners, contracts))
    total_bytes = sum(p.stat().st_size for p in iter_paths(list(paths)))
    try:
        log = ExceptionLog(db)
    except SpansiftError as exc:
        fail(str(exc))
        raise
    log.route_owner = routing
    show_progress = sys.stderr.isatty() and total_bytes >= PROGRESS_MIN_BYTES
    with (
        log,
        click.progressbar(
            length=total_bytes, label="ingesting", file=sys.stderr, hidden=not show_progress
        ) as bar,
    ):
        result = ingest_paths(
            paths, Pipeline(ruleset), log, on_file_done=lambda p: bar.update(p.stat().st_size)
        )
    click.echo(
        f"ingested {_plural(result.files, 'file')}: {_plural(result.spans, 'span')} read, "
        f"{_plural(result.hits, 'exception')} found ({result.new_rows:,} new), "
        f"{_plural(len(result.rejected), 'input')} rejected -> {db}"
    )
    if result.traces_evicted or result.spans_dropped:
        click.echo(
            f"warning: {result.traces_evicted:,} traces closed early and {result.spans_dropped:,} "
            "spans not kept to bound memory; their exceptions are marked incomplete",
            err=True,
        )
    for error in result.rejected:
        click.echo(f"rejected: {error}", err=True)
    if ruleset.runtime_errors:
        click.echo(f"warning: {ruleset.runtime_errors} rule evaluation errors skipped", err=True)
    if result.rejected:
        sys.exit(1)
