"""Files the CLI writes (`-o/--out`, `--parquet DIR`, `--new-key`): checked first, written whole.

A path is checked before any work is done, so a typo in `--out` costs a second,
not a long query; the file is written beside its final name and renamed, so a
reader never sees half of it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from spansift.cli._group import os_error_message

F = TypeVar("F", bound=Callable[..., Any])


def out_option(func: F) -> F:
    """`-o/--out FILE`: write the output to FILE instead of stdout."""
    return click.option(
        "-o",
        "--out",
        type=click.Path(dir_okay=False),
        help="Write the output to this file instead of stdout.",
    )(func)


def _fail(message: str) -> None:
    raise click.ClickException(message)


def writable_file(path: str | Path, flag: str, *, make_folder: bool = False) -> Path:
    """`path` if a file can be created there; else one `Error:` line naming `flag`.

    With `make_folder` a missing folder is created, readable by the owner only
    (for keys); otherwise it is an error.
    """
    target = Path(path)
    folder = target.parent
    if not folder.exists() and make_folder:
        try:
            folder.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            _fail(f"{flag} {path}: cannot create folder {folder}: {os_error_message(exc)}")
    if not folder.exists():
        _fail(f"{flag} {path}: folder {folder} does not exist; create it or choose another path")
    if not folder.is_dir():
        _fail(f"{flag} {path}: {folder} is a file, not a folder; choose another path")
    if target.is_dir():
        _fail(f"{flag} {path} is a folder; give a file name")
    if not os.access(folder, os.W_OK):
        _fail(f"{flag} {path}: folder {folder} is not writable; choose another path")
    return target


def writable_folder(path: str | Path, flag: str) -> Path:
    """`path` as a folder (created with its parents if missing); else one `Error:` line."""
    target = Path(path)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        _fail(f"{flag} {path} is a file; give a folder")
    except OSError as exc:
        _fail(f"{flag} {path}: {os_error_message(exc)}")
    if not os.access(target, os.W_OK):
        _fail(f"{flag} {path}: the folder is not writable; choose another path")
    return target


@contextmanager
def replaced(path: Path, flag: str) -> Iterator[IO[str]]:
    """A text file written to `<path>.part` and renamed to `path` when the block ends."""
    part = path.with_name(path.name + ".part")
    try:
        with part.open("w", encoding="utf-8") as out:
            yield out
        os.replace(part, path)
    except OSError as exc:
        part.unlink(missing_ok=True)
        _fail(f"{flag} {path}: cannot write: {os_error_message(exc)}")


def emit(text: str, out: str | None) -> None:
    """Print `text` (with a final newline), or write it to `out` and say so."""
    if out is None:
        click.echo(text)
        return
    target = writable_file(out, "--out")
    with replaced(target, "--out") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    click.echo(f"wrote {out}")
