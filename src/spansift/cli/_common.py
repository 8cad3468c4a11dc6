"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
import duckdb

from spansift.cli._remote import remote_read
from spansift.errors import ConfigError, SpansiftError
from spansift.remote import RemoteError
from spansift.review.owners import OwnerRule, load_owners, load_section
from spansift.review.webhooks import Hook, parse_hooks
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


def fail(message: str) -> None:
    """Print one `Error:` line and exit with status 1."""
    raise click.ClickException(message)


def load_rules(rule_paths: Sequence[str], contracts: str | None) -> RuleSet:
    """Load rules and contracts, or print every problem and exit 1."""
    if contracts is None and os.path.exists(CONTRACTS_FILE):
        contracts = CONTRACTS_FILE
    try:
        return load_ruleset(list(rule_paths) or None, contracts)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        fail(f"{len(exc.problems)} problem(s) in rules or contracts; fix them and run again")
        raise  # unreachable: fail() raises


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


def _section_file(path: str | None, contracts: str | None) -> str | None:
    """The file a section comes from: given, else the contracts file, else ./spansift.yaml."""
    if path is None:
        path = contracts or (CONTRACTS_FILE if os.path.exists(CONTRACTS_FILE) else None)
    return path


def owner_rules(path: str | None, contracts: str | None = None) -> tuple[OwnerRule, ...]:
    """Routing rules from --owners, else the `owners:` section of the contracts file."""
    path = _section_file(path, contracts)
    if path is None:
        return ()
    try:
        return load_owners(path)
    except SpansiftError as exc:
        fail(str(exc))
        raise


def owners_option(func: F) -> F:
    return click.option(
        "--owners",
        type=click.Path(exists=True, dir_okay=False),
        help="Owner routing rules applied as rows are written (YAML `owners:` list) "
        f"[default: the contracts file, else ./{CONTRACTS_FILE}].",
    )(func)


def webhook_targets(path: str | None, contracts: str | None = None) -> tuple[Hook, ...]:
    """Webhooks from --webhooks, else the `webhooks:` section of the contracts file."""
    path = _section_file(path, contracts)
    if path is None:
        return ()
    try:
        return parse_hooks(load_section(path, "webhooks"), path)
    except SpansiftError as exc:
        fail(str(exc))
        raise
