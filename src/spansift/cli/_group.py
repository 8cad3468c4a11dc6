"""The top-level command group: no command ends in a traceback on a user's mistake.

Commands report the mistakes they know about with `fail()`. This group is the
net under them: a file system error that reaches it (a folder that is missing,
a path that is a file, a full disk) becomes one `Error:` line naming the path,
a usage error exits 1 like every other bad input, and Ctrl-C exits 130.
"""

from __future__ import annotations

import errno
from typing import Any

import click
import duckdb

from spansift.errors import SpansiftError

INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command stopped by Ctrl-C
_FIX = {
    errno.ENOENT: "check the path, or create the folder first",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder; give a file name",
    errno.EACCES: "check its permissions, or choose another path",
    errno.EPERM: "check its permissions, or choose another path",
    errno.EROFS: "the file system is read-only; choose another path",
    errno.ENOSPC: "the disk is full; free space or choose another path",
    errno.EEXIST: "it exists already; choose another path",
}


def os_error_message(exc: OSError) -> str:
    """`path: reason; how to fix it` for an error from the file system."""
    where = f"{exc.filename}: " if exc.filename else ""
    reason = exc.strerror or str(exc)
    fix = _FIX.get(exc.errno or 0)
    return f"{where}{reason.lower()}" + (f"; {fix}" if fix else "")


class BadInput(click.UsageError):
    """A usage error (unknown flag, bad value) that exits 1 like every other bad input."""

    exit_code = 1


def _bad_input(exc: click.UsageError) -> click.UsageError:
    """The same message, exit status 1; `spansift` alone still prints its help."""
    if isinstance(exc, (BadInput, click.exceptions.NoArgsIsHelpError)):
        return exc
    return BadInput(exc.format_message(), exc.ctx)


class Main(click.Group):
    """`click.Group` that turns stray user-facing errors into one `Error:` line."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _bad_input(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _bad_input(exc) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(INTERRUPTED)
        except OSError as exc:
            raise click.ClickException(os_error_message(exc)) from None
        except SpansiftError as exc:
            raise click.ClickException(str(exc)) from None
        except duckdb.Error as exc:
            msg = f"the database refused: {exc}"
            raise click.ClickException(msg) from None
