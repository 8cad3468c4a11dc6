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

from spansift.cli._open import open_log, wait_option
from spansift.cli._output import Result
from spansift.cli._remote import remote_read
from spansift.decide.owners import OwnerRule, load_owners, load_section
from spansift.errors import ConfigError, SpansiftError
from spansift.evidence import redaction_from
from spansift.notify.webhooks import Hook, parse_hooks
from spansift.remote import RemoteError
from spansift.rules import RuleSet, load_ruleset
from spansift.rules._select import CONTRACTS_FILE, contracts_source
from spansift.store.log import DEFAULT_DB

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    """`--db FILE` and `--wait` (wait while another process holds the file)."""
    func = wait_option(func)
    return click.option(
        "--db",
        envvar="SPANSIFT_DB",
        default=DEFAULT_DB,
        show_default=True,
        type=click.Path(dir_okay=False),
        help="DuckDB file of the exception log (env SPANSIFT_DB).",
    )(func)


def rules_options(func: F) -> F:
    """`--rules` (extending the built-in pack), `--no-default-rules` and `--contracts`."""
    func = no_default_rules_option(func)
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
        help="Rule folder or file, loaded after the built-in pack; repeatable.",
    )(func)


def no_default_rules_option(func: F) -> F:
    return click.option(
        "--no-default-rules",
        "no_default_rules",
        is_flag=True,
        help="Load only the --rules given, not the built-in pack.",
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


def load_rules(
    rule_paths: Sequence[str], contracts: str | None, *, no_default_rules: bool = False
) -> RuleSet:
    """Load rules and contracts (see `load_ruleset`), or print every problem and exit 1."""
    try:
        ruleset = load_ruleset(list(rule_paths), contracts, default_rules=not no_default_rules)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        fail(f"{len(exc.problems)} problem(s) in rules or contracts; fix them and run again")
        raise  # unreachable: fail() raises
    source = contracts_source(contracts)
    if isinstance(source, (str, Path)):
        _configure_redaction(str(source))
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
    """Column names and rows of read-only SQL over the log at `db` (see `read_result`)."""
    result = read_result(db, sql, params)
    return result.columns, result.rows


def read_result(db: str, sql: str, params: Sequence[Any] | None = None) -> Result:
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
    with open_log(db, read_only=True) as log:
        try:
            cursor = log.con.execute(sql, params or [])
            description = cursor.description or ()
            return Result(
                tuple(d[0] for d in description),
                cursor.fetchall(),
                tuple(str(d[1]) for d in description),
            )
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
