"""`spansift ingest`: backfill the log from OTLP files."""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click
from click._termui_impl import ProgressBar

from spansift.cli._common import (
    db_option,
    fail,
    load_rules,
    owner_rules,
    owners_option,
    private_files,
    rules_options,
)
from spansift.cli._forward import forward
from spansift.cli._group import INTERRUPTED
from spansift.cli._interrupt import stop_on_interrupt
from spansift.cli._keep import keep_options, keeping
from spansift.cli._open import HeldError, open_log
from spansift.cli._remote import current_token, token_option
from spansift.decide.owners import router
from spansift.ingest import IngestResult, ingest_paths
from spansift.remote import find_server
from spansift.rules import RuleSet
from spansift.sources._shift import newest_end_ns, shifted
from spansift.sources.files import STDIN, Chunk, iter_file, iter_paths
from spansift.store.kept import TraceKeeper

PROGRESS_MIN_BYTES = 8 << 20


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


class _Progress:
    """Moves a progress bar by the bytes read within each file, not only per file."""

    def __init__(self, bar: ProgressBar[int]) -> None:
        self.bar = bar
        self.path: Path | None = None
        self.offset = 0

    def at(self, path: Path, offset: int) -> None:
        if path != self.path:
            self.path, self.offset = path, 0
        if offset > self.offset:
            self.bar.update(offset - self.offset)
            self.offset = offset

    def file_done(self, path: Path) -> None:
        if path != STDIN:
            self.at(path, path.stat().st_size)


def _check_inputs(paths: tuple[Path, ...]) -> None:
    """Refuse anything but regular files and folders before reading: a FIFO or a device
    (`/dev/zero`) would be read forever."""
    for path in paths:
        if str(path) == "-":
            continue
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror or exc}")
            return
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            fail(
                f"{path} is not a regular file or a folder; ingest reads OTLP files, folders "
                "of them, or - for standard input"
            )


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True, path_type=Path))
@db_option
@rules_options
@click.option(
    "--shift-to-now",
    is_flag=True,
    help="Move all timestamps so the newest span ends now (for the sample and for replays).",
)
@click.option(
    "--via-serve",
    is_flag=True,
    help="Send the files to the `spansift serve` holding --db (over OTLP/HTTP).",
)
@token_option
@owners_option
@keep_options
def ingest(
    paths: tuple[Path, ...],
    db: str,
    rule_paths: tuple[str, ...],
    contracts: str | None,
    no_default_rules: bool,
    shift_to_now: bool,
    via_serve: bool,
    owners: str | None,
    keep_traces: bool,
    keep_max: int,
) -> None:
    """Read OTLP files (.json, .jsonl, .pb, optionally .gz) or folders of them into the log.

    `-` reads standard input. Ingesting the same data twice adds no rows. A malformed
    line or file is reported with its location and skipped; everything else is still
    ingested, and the exit status is then 1. Ctrl-C stops after the current request,
    writes what was found so far and exits 130; running the same command again
    completes the log.
    """
    _check_inputs(paths)
    if via_serve and shift_to_now:
        fail("--shift-to-now works on the rows ingest writes itself; drop --via-serve")
    if via_serve:
        if keep_traces:
            fail("--via-serve: the receiver keeps traces if it was started with --keep-traces; "
                 "drop --keep-traces")  # fmt: skip
        if rule_paths or contracts or no_default_rules:
            fail("--via-serve: the receiver runs its own rules; drop --rules, --contracts and "
                 "--no-default-rules, or restart serve with them")  # fmt: skip
        _via_serve(paths, db)
        return
    ruleset = load_rules(rule_paths, contracts, no_default_rules=no_default_rules)
    if shift_to_now and STDIN in paths:
        fail("--shift-to-now reads the files twice; save standard input to a file first")
    with private_files(), keeping(db, keep_traces, keep_max, click.echo) as keeper:  # owner only
        _ingest(
            paths, db, ruleset, shift_to_now=shift_to_now, owners=owners, contracts=contracts,
            keeper=keeper,
        )  # fmt: skip


def _ingest(
    paths: tuple[Path, ...],
    db: str,
    ruleset: RuleSet,
    *,
    shift_to_now: bool,
    owners: str | None,
    contracts: str | None,
    keeper: TraceKeeper | None,
) -> None:
    routing = router(owner_rules(owners, contracts))
    try:
        log = open_log(db)
    except HeldError as exc:
        server = exc.server
        if server is not None:
            fail(
                f"{db} is held by spansift serve (pid {server.pid}, {server.url}); "
                "ingest through it (add --via-serve) or stop it"
            )
        fail(str(exc))
        raise
    log.route_owner = routing
    read = _shifted_reader(paths) if shift_to_now else iter_file
    with log, _progress(paths) as progress, stop_on_interrupt() as stop:
        result = ingest_paths(
            paths, ruleset, log, on_file_done=progress.file_done,
            on_progress=progress.at, should_stop=stop.is_set, read=read, keeper=keeper,
        )  # fmt: skip
    _report(result, db)
    if ruleset.runtime_errors:
        click.echo(f"warning: {ruleset.runtime_errors} rule evaluation errors skipped", err=True)
    if result.interrupted:
        sys.exit(INTERRUPTED)
    if result.rejected:
        sys.exit(1)


def _shifted_reader(paths: Sequence[Path]) -> Callable[[Path], Iterable[Chunk]]:
    """Read files with every time moved so that the newest span ends now."""
    newest = newest_end_ns(paths)
    delta = time.time_ns() - newest if newest else 0
    return lambda path: shifted(iter_file(path), delta)


@contextmanager
def _progress(paths: Sequence[Path]) -> Iterator[_Progress]:
    """A progress bar on stderr for large inputs on a terminal, hidden otherwise."""
    total = sum(p.stat().st_size for p in iter_paths(list(paths)) if p != STDIN)
    shown = sys.stderr.isatty() and total >= PROGRESS_MIN_BYTES
    with click.progressbar(
        length=total, label="ingesting", file=sys.stderr, hidden=not shown
    ) as bar:
        yield _Progress(bar)


def _report(result: IngestResult, db: str) -> None:
    counts = (
        f"{_plural(result.spans, 'span')} read, {_plural(result.hits, 'exception')} found "
        f"({result.new_rows:,} new)"
    )
    if result.interrupted:
        click.echo(
            f"interrupted in file {result.files:,}: {counts}; {result.new_rows:,} new exceptions "
            f"committed to {db}. Run the same command again to finish: rows are never doubled.",
            err=True,
        )
    else:
        click.echo(
            f"ingested {_plural(result.files, 'file')}: {counts}, "
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


def _via_serve(paths: Sequence[Path], db: str) -> None:
    server = find_server(db)
    if server is None:
        fail(f"no spansift serve holds {db}; run without --via-serve, or start `spansift serve`")
        return
    with _progress(paths) as progress, stop_on_interrupt() as stop:
        done = forward(paths, server, current_token(), progress.at, stop.is_set)
    sent = (
        f"{_plural(done.files, 'file')} to spansift serve (pid {server.pid}, {server.url}): "
        f"{_plural(done.spans, 'span')} in {_plural(done.requests, 'request')}"
    )
    if done.interrupted:
        click.echo(f"interrupted: sent {sent}; the receiver keeps what it acknowledged", err=True)
        sys.exit(INTERRUPTED)
    click.echo(
        f"sent {sent}, {_plural(len(done.rejected), 'input')} rejected; it writes the "
        f"exceptions to {db} with its own rules"
    )
    for error in done.rejected:
        click.echo(f"rejected: {error}", err=True)
    if done.rejected:
        sys.exit(1)
