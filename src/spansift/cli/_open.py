"""Opening the log file from the CLI: clear errors for missing folders and held files.

DuckDB lets one process hold a database file. When another process holds it,
the error names that process and the way out: a `spansift serve` is found
through `<db>.serve.json`; any other holder is named by the pid DuckDB reports,
and `--wait` (an option of every command that takes `--db`) waits for it.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from spansift.errors import SpansiftError
from spansift.remote import ServerInfo, find_server
from spansift.store.log import ExceptionLog

F = TypeVar("F", bound=Callable[..., Any])
WAIT_KEY = "spansift.wait"
POLL_S = 0.25
_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")
_LOCKED = ("Could not set lock", "Conflicting lock")


class HeldError(SpansiftError):
    """The file is locked by another process: `server` when that is a `spansift serve`."""

    def __init__(self, message: str, server: ServerInfo | None) -> None:
        super().__init__(message)
        self.server = server


def _remember_wait(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[WAIT_KEY] = True


def wait_option(func: F) -> F:
    """`--wait`: wait while another process holds the database (stored in `ctx.meta`)."""
    return click.option(
        "--wait",
        is_flag=True,
        expose_value=False,
        callback=_remember_wait,
        help="If another process holds the database, wait for it to let go.",
    )(func)


def waiting() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(WAIT_KEY))


def check_folder(db: str) -> None:
    """Fail with one line when the folder `db` would be created in does not exist."""
    folder = Path(db).parent
    if not folder.exists():
        msg = f"--db {db}: folder {folder} does not exist; create it or pass another --db"
        raise click.ClickException(msg)
    if not folder.is_dir():
        msg = f"--db {db}: {folder} is a file, not a folder; pass another --db"
        raise click.ClickException(msg)


def held_message(db: str, exc: SpansiftError) -> HeldError | None:
    """A `HeldError` saying who holds `db` when `exc` is DuckDB's lock conflict, else None."""
    text = str(exc)
    if not any(marker in text for marker in _LOCKED):
        return None
    server = find_server(db)
    if server is not None:
        return HeldError(
            f"{db} is held by spansift serve (pid {server.pid}, {server.url}); "
            "go through it or stop it",
            server,
        )
    found = _HOLDER.search(text)
    who = f"pid {found['pid']}, {Path(found['program']).name}" if found else "another process"
    return HeldError(
        f"{db} is held by another process ({who}); stop it, or pass --wait to wait for it", None
    )


def open_log(db: str, *, read_only: bool = False) -> ExceptionLog:
    """Open the log, waiting for a held lock under `--wait`; raises `HeldError` when held.

    Other problems become one `Error:` line naming `--db`.
    """
    if not read_only:
        check_folder(db)
    announced = False
    while True:
        try:
            return ExceptionLog(db, read_only=read_only)
        except SpansiftError as exc:
            held = held_message(db, exc)
            if held is None:
                raise click.ClickException(_reason(db, exc)) from None
            if not waiting() or held.server is not None:
                raise held from None
            if not announced:
                click.echo(f"waiting: {held}", err=True)
                sys.stderr.flush()
                announced = True
            time.sleep(POLL_S)


def _reason(db: str, exc: SpansiftError) -> str:
    text = str(exc).removeprefix(f"cannot open database {db}: ")
    return f"cannot open --db {db}: {text}"
