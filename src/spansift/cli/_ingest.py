"""`spansift ingest`: backfill the log from OTLP files."""

from __future__ import annotations

import gzip
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from spansift.cli._common import db_option, fail, load_rules, private_files, rules_options
from spansift.errors import SpansiftError
from spansift.ingest import ingest_paths
from spansift.pipeline import Pipeline
from spansift.rules import RuleSet
from spansift.sources.files import iter_paths
from spansift.store.log import ExceptionLog

PROGRESS_MIN_BYTES = 8 << 20


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


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


@contextmanager
def _stdin_as_file(paths: tuple[Path, ...]) -> Iterator[tuple[Path, ...]]:
    """`-` replaced by a private copy of standard input, named after its format."""
    if Path("-") not in paths:
        yield paths
        return
    with tempfile.TemporaryDirectory(prefix="spansift-stdin-") as folder:
        raw = Path(folder) / "stdin"
        stdin = sys.stdin.buffer
        with raw.open("wb") as out:
            while chunk := stdin.read(1 << 20):
                out.write(chunk)
        with raw.open("rb") as f:
            first = f.read(2)
        suffix = ".gz" if first == b"\x1f\x8b" else ""
        if suffix:
            with gzip.open(raw, "rb") as f:
                first = f.read(64)
        kind = ".json" if first.lstrip()[:1] == b"{" else ".pb"
        named = raw.with_name(f"stdin{kind}{suffix}")
        raw.rename(named)
        yield tuple(named if p == Path("-") else p for p in paths)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True, path_type=Path))
@db_option
@rules_options
def ingest(
    paths: tuple[Path, ...], db: str, rule_paths: tuple[str, ...], contracts: str | None
) -> None:
    """Read OTLP files (.json, .jsonl, .pb, optionally .gz) or folders of them into the log.

    `-` reads standard input. Ingesting the same data twice adds no rows. A malformed
    line or file is reported with its location and skipped; everything else is still
    ingested, and the exit status is then 1.
    """
    _check_inputs(paths)
    ruleset = load_rules(rule_paths, contracts)
    with _stdin_as_file(paths) as inputs, private_files():  # the log and its WAL: owner only
        _ingest(inputs, db, ruleset)


def _ingest(paths: tuple[Path, ...], db: str, ruleset: RuleSet) -> None:
    total_bytes = sum(p.stat().st_size for p in iter_paths(list(paths)))
    try:
        log = ExceptionLog(db)
    except SpansiftError as exc:
        fail(str(exc))
        raise
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
