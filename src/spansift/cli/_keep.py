"""`--keep-traces` and `--keep-traces-max` of `serve` and `ingest` (see `store.kept`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from spansift.store.kept import TraceKeeper, folder_of, parse_size

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_MAX = "2GiB"


def _size(_ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param=param) from None


def keep_options(func: F) -> F:
    """`--keep-traces` (off by default) and `--keep-traces-max SIZE`."""
    func = click.option(
        "--keep-traces-max",
        "keep_max",
        default=DEFAULT_MAX,
        show_default=True,
        metavar="SIZE",
        callback=_size,
        help="Size cap of the kept traces (e.g. 500MiB, 2GiB); the oldest files go first.",
    )(func)
    return click.option(
        "--keep-traces",
        is_flag=True,
        help="Keep the closed traces' spans (redacted like evidence) as Parquet in "
        "<db>.traces/, so `spansift rederive` can rerun changed rules over them.",
    )(func)


@contextmanager
def keeping(
    db: str, on: bool, max_bytes: int, say: Callable[[str], None]
) -> Iterator[TraceKeeper | None]:
    """The keeper of `db`'s closed traces while the block runs (when `on`); then say what
    was kept."""
    if not on:
        yield None
        return
    keeper = TraceKeeper(db, max_bytes)
    try:
        yield keeper
    finally:
        keeper.flush()
        if keeper.kept or keeper.failed:
            line = f"kept {keeper.kept:,} spans of closed traces in {folder_of(db)}"
            if keeper.files_deleted:
                line += f" ({keeper.files_deleted:,} oldest files deleted to stay under the cap)"
            say(line)
            if keeper.failed:
                say(
                    f"warning: {keeper.failed:,} spans of closed traces were not kept: "
                    f"{keeper.last_error}; the exception log has all its rows"
                )
