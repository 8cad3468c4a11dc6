"""`spansift rederive`: rerun the current rules over kept traces and record the difference."""

from __future__ import annotations

from pathlib import Path

import click

from spansift.cli._common import (
    db_option,
    fail,
    load_rules,
    owner_rules,
    owners_option,
    private_files,
    rules_options,
)
from spansift.cli._log import format_option
from spansift.cli._open import HeldError, open_log
from spansift.cli._output import dump, iso, table
from spansift.cli._when import TIME_HELP, parse_time
from spansift.cli._write import emit, out_option
from spansift.decide.owners import router
from spansift.rederive import Rederived, rederive
from spansift.store.kept import folder_of, kept_files


@click.command("rederive")
@db_option
@rules_options
@owners_option
@click.option(
    "--since",
    default="30d",
    show_default=True,
    help=f"Rerun the kept traces with a span ending from this on: {TIME_HELP}.",
)
@click.option("--dry-run", is_flag=True, help="Print the difference and write nothing.")
@format_option(("text", "json"), "text")
@out_option
def rederive_command(
    db: str,
    rule_paths: tuple[str, ...],
    contracts: str | None,
    no_default_rules: bool,
    owners: str | None,
    since: str,
    dry_run: bool,
    fmt: str,
    out: str | None,
) -> None:
    """Rerun the current rules over the traces kept with `--keep-traces`, on event time.

    Rows the rules now find are added; rows of traces in the window that they no
    longer produce get a chained `withdrawn` decision (the row stays, its status
    shows `withdrawn`); withdrawn rows produced again are reinstated. Prints the
    difference per exception type and rule. Rows of traces that were not kept are
    never withdrawn. `--dry-run` prints the same difference and writes nothing.
    It needs the database file: stop `spansift serve` first (it writes what it
    kept when it stops).
    """
    start = parse_time(since, "--since")
    ruleset = load_rules(rule_paths, contracts, no_default_rules=no_default_rules)
    routing = router(owner_rules(owners, contracts))
    if not Path(db).exists():
        fail(f"no exception log at {db}: run `spansift ingest` or `spansift serve` first")
    with private_files():
        try:
            log = open_log(db, read_only=dry_run)
        except HeldError as exc:
            server = exc.server
            if server is not None:
                fail(
                    f"{db} is held by spansift serve (pid {server.pid}, {server.url}); "
                    "rederive needs the file: stop it, rederive, and start it again"
                )
            fail(str(exc))
            raise
        log.route_owner = routing
        with log:
            folder = folder_of(db)
            if not kept_files(folder):
                fail(
                    f"no kept traces in {folder}: start `spansift serve` or `spansift ingest` "
                    "with --keep-traces, then rederive over what they kept"
                )
            result = rederive(db, log, ruleset, start, dry_run=dry_run)
    emit(_json(result) if fmt == "json" else _text(result, db), out)


def _json(result: Rederived) -> str:
    return dump(
        {
            "since": iso(result.since),
            "dry_run": result.dry_run,
            "files": result.files,
            "traces": result.traces,
            "window_traces": result.window_traces,
            "spans": result.spans,
            "produced": result.produced,
            "unchanged": result.unchanged,
            "added": result.total("added"),
            "withdrawn": result.total("withdrawn"),
            "reinstated": result.total("reinstated"),
            "changes": [
                {"change": c.change, "type": c.exception_type, "rule": c.rule_id, "rows": c.rows}
                for c in result.changes
            ],
        }
    )


def _text(result: Rederived, db: str) -> str:
    lines = [
        f"rederive since {iso(result.since.replace(microsecond=0))}: {result.window_traces:,} "
        f"kept traces in the window ({result.traces:,} with their sessions, "
        f"{result.spans:,} spans, {result.files:,} file{'' if result.files == 1 else 's'})"
    ]
    if result.changes:
        rows = [(c.change, c.exception_type, c.rule_id, f"{c.rows:,}") for c in result.changes]
        lines += table(("change", "type", "rule", "rows"), rows)
    else:
        lines.append("no difference: the current rules produce exactly the rows the log holds")
    lines.append(
        f"{result.produced:,} rows produced: {result.total('added'):,} added, "
        f"{result.unchanged:,} unchanged, {result.total('reinstated'):,} reinstated; "
        f"{result.total('withdrawn'):,} withdrawn"
    )
    changed = any(c.rows for c in result.changes)
    if result.dry_run:
        lines.append("dry run: nothing written")
    elif changed:
        lines.append(f"written to {db} (chained; `spansift verify` checks it)")
    return "\n".join(lines)
