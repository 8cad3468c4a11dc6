"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import duckdb
import yaml

from spansift.cli._remote import remote_read
from spansift.errors import ConfigError, SpansiftError
from spansift.evidence import redaction_from
from spansift.remote import RemoteError
from spansift.rules import RuleSet, load_ruleset
from spansift.store.log import DEFAULT_DB, ExceptionLog

F = TypeVar("F", bound=Callable[..., Any])
CONTRACTS_FILE = "spansift.yaml"


def db_option(func: F) -> F:
    return click.option(
        "--db",
        envvar="SPANSIFT_DB",
        default=DEFAULT_DB,
        show_default=True,
        type=click.Path(dir_okay=False),
        help="DuckDB file of the exception log (env SPANSIFT_DB).",
    )(func)


def rules_options(func: F) -> F:
    func = click.option(
        "--contracts",
        type=click.Path(exists=True, dir_okay=False),
        help=f"Agent contracts file [default: ./{CONTRACTS_FILE} if present].",
    )(func)
    return click.option(
        "--rules",
        "rule_paths",
        multiple=True,
        type=click.Path(exists=True),
        help="Rule folder or file; repeatable [default: the built-in pack].",
    )(func)


@contextmanager
def private_files() -> Iterator[None]:
    """Create files readable by the owner only (umask 077) while the block runs.

    DuckDB deletes its write-ahead log at each checkpoint and creates it again with
    the process umask, so a chmod cannot keep `<db>.wal` private; the umask can.
    """
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def fail(message: str) -> None:
    """Print one `Error:` line and exit with status 1."""
    raise click.ClickException(message)


def load_rules(rule_paths: Sequence[str], contracts: str | None) -> RuleSet:
    """Load rules and contracts, or print every problem and exit 1."""
    if contracts is None and os.path.exists(CONTRACTS_FILE):
        contracts = CONTRACTS_FILE
    try:
        ruleset = load_ruleset(list(rule_paths) or None, contracts)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        fail(f"{len(exc.problems)} problem(s) in rules or contracts; fix them and run again")
        raise  # unreachable: fail() raises
    if contracts is not None:
        _configure_redaction(contracts)
    return ruleset


def _configure_redaction(contracts: str) -> None:
    """Apply the `redaction:` section of the contracts file (already checked by the loader)."""
    try:
        doc = yaml.safe_load(Path(contracts).read_text(encoding="utf-8"))
        section = doc.get("redaction") if isinstance(doc, dict) else None
        redaction_from(section, contracts)
    except (OSError, yaml.YAMLError, SpansiftError) as exc:
        fail(str(exc))


def read_query(
    db: str, sql: str, params: Sequence[Any] | None = None
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """Run read-only SQL against the log at `db`; the one way every read command reads.

    When a `spansift serve` holds the file (it announces itself in
    `<db>.serve.json`), the query goes through its HTTP endpoint, because DuckDB
    lets no other process open the file; otherwise the file is opened read-only.
    """
    try:
        remote = remote_read(db, sql, params)
    except RemoteError as exc:
        fail(str(exc))
        raise
    if remote is not None:
        return remote
    if not Path(db).exists():
        fail(
            f"no exception log at {db}: run `spansift ingest FILE` or `spansift serve` first, "
            "or pass --db"
        )
    try:
        log = ExceptionLog(db, read_only=True)
    except SpansiftError as exc:
        fail(str(exc))
        raise
    with log:
        try:
            return log.query(sql, params)
        except duckdb.Error as exc:
            fail(f"query failed: {exc}")
            raise
