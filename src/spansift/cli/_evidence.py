"""Evidence and tamper evidence: `spansift show`, `verify` and `checkpoint`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from spansift.cli._common import db_option, fail, read_query
from spansift.cli._remote import token_option
from spansift.errors import SpansiftError
from spansift.store import chain, integrity
from spansift.store.checkpoint import Checkpoint, check_signature, new_key, parse, sign
from spansift.store.rows import COLUMN_NAMES

_SHOW_COLUMNS = (
    "exception_id",
    "exception_type",
    "severity",
    "status",
    "occurred_at",
    "detected_at",
    "workflow",
    "step",
    "agent",
    "tool",
    "rule_id",
    "boundary",
    "owner",
    "follow_up",
    "resolution",
    "summary",
    "trace_id",
    "span_id",
)


def _fetch(db: str) -> chain.Fetch:
    return lambda sql, params: read_query(db, sql, params)[1]


@click.command()
@click.argument("exception_id")
@db_option
@token_option
def show(exception_id: str, db: str) -> None:
    """Print one exception and its trace as a tree, the offending span marked with '>'.

    EXCEPTION_ID may be the short id `spansift ls` prints (any unique prefix).
    """
    prefix = exception_id.strip().lower()
    if len(prefix) < 6:
        fail("give at least 6 characters of the exception id")
    _, rows = read_query(
        db,
        f"SELECT {', '.join(_SHOW_COLUMNS)} FROM exceptions WHERE starts_with(exception_id, ?)",
        [prefix],
    )
    if not rows:
        fail(f"no exception with id {exception_id!r} in {db}")
    if len({r[0] for r in rows}) == 1 and len(rows) > 1:
        fail(
            f"{len(rows)} rows share the exception id {rows[0][0]}: the log was edited "
            "(ids are unique when spansift writes them); run `spansift verify`"
        )
    if len(rows) > 1:
        fail(f"{len(rows)} exceptions start with {exception_id!r}; give more characters")
    row = dict(zip(_SHOW_COLUMNS, rows[0], strict=True))
    click.echo(
        f"exception {row['exception_id']}  {row['exception_type']} ({row['severity']})  "
        f"{row['status']}"
    )
    for label, value in (
        ("when", f"{row['occurred_at']} UTC (detected {row['detected_at']})"),
        ("workflow", f"{row['workflow'] or '-'}  step: {row['step'] or '-'}"),
        ("agent", f"{row['agent'] or '-'}  tool: {row['tool'] or '-'}"),
        ("rule", f"{row['rule_id']}  boundary: {row['boundary'] or '-'}"),
        ("owner", f"{row['owner'] or '-'}  follow-up: {row['follow_up'] or '-'}"),
        ("summary", row["summary"] or "-"),
        ("trace", f"{row['trace_id']}  span: {row['span_id']}"),
    ):
        click.echo(f"  {label:<9} {value}")
    _, spans = read_query(
        db,
        "SELECT span_id, parent_span_id, name, status, "
        "date_diff('microsecond', start_at, end_at) / 1000.0, offending, start_at "
        "FROM evidence_spans WHERE exception_id = ? ORDER BY start_at, span_id",
        [row["exception_id"]],
    )
    click.echo("")
    click.echo(f"evidence: {len(spans)} span{'s' if len(spans) != 1 else ''} of the trace")
    for line in _tree(spans):
        click.echo(line)


def _tree(spans: Sequence[Sequence[Any]]) -> list[str]:
    ids = {s[0] for s in spans}
    children: dict[str | None, list[Sequence[Any]]] = {}
    for span in spans:
        parent = span[1] if span[1] in ids else None
        children.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span_id, _, name, status, duration_ms, offending, _ in children.get(parent, []):
            mark = ">" if offending else " "
            lines.append(f"{mark} {'  ' * depth}{name}  [{status}, {float(duration_ms):.0f} ms]")
            walk(span_id, depth + 1)

    walk(None, 0)
    return lines


@click.command()
@db_option
@token_option
@click.option(
    "--checkpoint",
    "note",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint note the log must still extend.",
)
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Ed25519 public key (PEM) the checkpoint must be signed with (required with "
    "--checkpoint).",
)
def verify(db: str, note: Path | None, public_key: Path | None) -> None:
    """Recompute the hash chain and check the schema; report what was changed.

    Rows changed, deleted or inserted since spansift wrote them; views or tables
    redefined (constraints dropped); duplicate ids. Exit status 1 when the log does
    not verify (or no longer extends --checkpoint, which needs --public-key).
    Changes after the last checkpoint by someone who rewrites the chain too, and a
    cut-off tail, are only caught by comparing against a later checkpoint.
    """
    if note is not None and public_key is None:
        fail(
            "--checkpoint needs --public-key: anyone can write an unsigned note, so only a "
            "signature by your key makes it evidence"
        )
    fetch = _fetch(db)
    result = chain.verify(fetch, COLUMN_NAMES)
    problems = [str(f) for f in integrity.check(fetch)] + [str(f) for f in result.findings]
    if note is not None and public_key is not None:
        text = note.read_text(encoding="utf-8")
        try:
            checkpoint, _ = parse(text, str(note))
            check_signature(text, public_key, str(note))
        except SpansiftError as exc:
            fail(str(exc))
            raise
        found = chain.hash_at(fetch, checkpoint.size) if checkpoint.size else chain.GENESIS
        if found != checkpoint.head_hash:
            problems.append(
                f"checkpoint {note}: the log no longer extends it (entry {checkpoint.size} "
                f"{'is missing' if found is None else 'has a different hash'})"
            )
    if problems:
        click.echo(f"FAILED: {db}: {len(problems)} problem(s); first: {problems[0]}")
        for line in problems[1:20]:
            click.echo(f"  {line}")
        sys.exit(1)
    extra = f", extends {note}" if note is not None else ""
    click.echo(f"ok: {result.entries:,} chained rows, head {result.head_hash[:16]}{extra}")


@click.command()
@db_option
@token_option
@click.option(
    "--key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Ed25519 private key (PEM) to sign with; keep it outside the database.",
)
@click.option(
    "--new-key",
    "new_key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Create a new key pair at this path (and PATH.pub), then exit.",
)
@click.option("--origin", help="Name of this log in the note [default: the database file name].")
def checkpoint(db: str, key: Path | None, new_key_path: Path | None, origin: str | None) -> None:
    """Print a checkpoint note of the chain head (signed with --key) to store elsewhere."""
    if new_key_path is not None:
        if new_key_path.exists():
            fail(f"{new_key_path} exists; choose another path for --new-key")
        public = new_key(new_key_path)
        click.echo(f"wrote private key {new_key_path} (keep it secret) and public key {public}")
        return
    _, rows = read_query(db, "SELECT seq, row_hash FROM log_chain ORDER BY seq DESC LIMIT 1")
    size, head = (int(rows[0][0]), str(rows[0][1])) if rows else (0, chain.GENESIS)
    note = Checkpoint(origin or Path(db).name, size, head)
    try:
        click.echo(sign(note, key), nl=False)
    except (SpansiftError, ValueError) as exc:
        fail(f"--key {key}: {exc}")
