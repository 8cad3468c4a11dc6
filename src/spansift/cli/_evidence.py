"""Tamper evidence: `spansift verify` and `checkpoint`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from spansift.cli._common import db_option, fail, read_query
from spansift.cli._group import os_error_message
from spansift.cli._log import format_option
from spansift.cli._output import dump
from spansift.cli._remote import token_option
from spansift.cli._write import emit, out_option, writable_file
from spansift.errors import SpansiftError
from spansift.store import chain, integrity
from spansift.store.checkpoint import Checkpoint, check_signature, new_key, parse, sign
from spansift.store.rows import COLUMN_NAMES


def _fetch(db: str) -> chain.Fetch:
    return lambda sql, params: read_query(db, sql, params)[1]


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
@format_option(("text", "json"), "text")
@out_option
def verify(db: str, note: Path | None, public_key: Path | None, fmt: str, out: str | None) -> None:
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
    if fmt == "json":
        doc = {
            "ok": not problems,
            "entries": result.entries,
            "rows": result.rows,
            "head": result.head_hash,
            "checkpoint": str(note) if note else None,
            "problems": problems,
        }
        emit(dump(doc), out)
    elif problems:
        lines = [f"FAILED: {db}: {len(problems)} problem(s); first: {problems[0]}"]
        emit("\n".join(lines + [f"  {line}" for line in problems[1:20]]), out)
    else:
        extra = f", extends {note}" if note is not None else ""
        emit(f"ok: {result.rows:,} chained rows, head {result.head_hash[:16]}{extra}", out)
    if problems:
        sys.exit(1)


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
@out_option
def checkpoint(
    db: str, key: Path | None, new_key_path: Path | None, origin: str | None, out: str | None
) -> None:
    """Print a checkpoint note of the chain head (signed with --key) to store elsewhere."""
    if new_key_path is not None:
        if new_key_path.exists():
            fail(f"{new_key_path} exists; choose another path for --new-key")
        # A missing key folder (~/.spansift) is created for the owner alone, as ssh does.
        writable_file(new_key_path, "--new-key", make_folder=True)
        try:
            public = new_key(new_key_path)
        except OSError as exc:
            fail(f"--new-key {new_key_path}: {os_error_message(exc)}")
            raise
        click.echo(f"wrote private key {new_key_path} (keep it secret) and public key {public}")
        return
    _, rows = read_query(db, "SELECT seq, row_hash FROM log_chain ORDER BY seq DESC LIMIT 1")
    size, head = (int(rows[0][0]), str(rows[0][1])) if rows else (0, chain.GENESIS)
    note = Checkpoint(origin or Path(db).name, size, head)
    try:
        signed = sign(note, key)
    except (SpansiftError, ValueError) as exc:
        fail(f"--key {key}: {exc}")
        raise
    if out is None:
        click.echo(signed, nl=False)
    else:
        emit(signed, out)
