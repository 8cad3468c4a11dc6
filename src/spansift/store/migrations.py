"""Schema versions: numbered SQL files applied in order, each in its own transaction.

A migration is `sql/migrations/NNNN_name.sql`. The database records every applied
version in `schema_version`; opening a database applies what is missing (by version, so
a gap left by a migration added later is filled) and then recreates the views from
`sql/views/*.sql`, which are plain SQL so users can read them and copy them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from spansift.errors import SpansiftError

if TYPE_CHECKING:
    import duckdb

_SQL = resources.files("spansift.store") / "sql"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> tuple[Migration, ...]:
    """Every migration shipped with this version of spansift, oldest first."""
    found = []
    for entry in (_SQL / "migrations").iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text()))
    return tuple(sorted(found, key=lambda m: m.version))


def latest_version() -> int:
    return migrations()[-1].version


def view_sql() -> tuple[str, ...]:
    """CREATE OR REPLACE VIEW statements, in file-name order."""
    entries = sorted((_SQL / "views").iterdir(), key=lambda e: e.name)
    return tuple(e.read_text() for e in entries if e.name.endswith(".sql"))


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the schema up to date and refresh the views; returns the schema version."""
    version = current_version(con)
    if version > latest_version():
        msg = (
            f"database schema version {version} is newer than this spansift "
            f"(knows up to {latest_version()}); upgrade spansift or use another --db"
        )
        raise SpansiftError(msg)
    # Every shipped migration the database has not recorded, oldest first: a version below
    # the newest applied one is still applied (migrations numbered on separate branches).
    applied = {int(r[0]) for r in con.execute("SELECT version FROM schema_version").fetchall()}
    for migration in migrations():
        if migration.version in applied:
            continue
        con.begin()
        try:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)",
                [migration.version, migration.name],
            )
            con.commit()
        except Exception:
            con.rollback()
            raise
        version = max(version, migration.version)
    for statement in view_sql():
        con.execute(statement)
    return version
