"""`spansift export`: a Parquet snapshot of the log's tables, or eval cases as JSONL."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import duckdb

from spansift.cli._common import db_option, fail, read_query
from spansift.cli._open import open_log
from spansift.cli._remote import current_token, token_option
from spansift.cli._write import replaced, writable_file, writable_folder
from spansift.remote import (
    RemoteError,
    RemoteUnavailableError,
    find_server,
    remote_export,
    remote_query,
)
from spansift.review.evals import eval_cases, select_ids

# Every table, plus the views users read: `exceptions` (the rows with their review state) and
# `evidence_spans` (one row per evidence span; the table keeps one document per trace).
_TABLES_SQL = (
    "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
    "AND schema_name = 'main' AND NOT temporary UNION SELECT view_name FROM duckdb_views() "
    "WHERE database_name = current_database() AND schema_name = 'main' "
    "AND view_name IN ('exceptions', 'evidence_spans') ORDER BY 1"
)


@click.group(invoke_without_command=True)
@db_option
@click.option(
    "--parquet",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Folder for one <table>.parquet per table (created if missing).",
)
@token_option
@click.pass_context
def export(ctx: click.Context, db: str, out_dir: str | None) -> None:
    """Write a Parquet snapshot of the log's tables (`--parquet DIR`), or eval cases (`evals`).

    Both read through a running receiver if there is one.
    """
    if ctx.invoked_subcommand is not None:
        return
    if out_dir is None:
        fail("pass --parquet DIR, or use `spansift export evals`")
        return
    _export_parquet(db, out_dir)


@export.command("evals")
@click.argument("ids", nargs=-1)
@db_option
@click.option(
    "--follow-up",
    "follow_up",
    default="eval_case",
    show_default=True,
    help="Without IDs: every exception whose follow-up is this.",
)
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="JSONL file.")
@token_option
def export_evals(ids: tuple[str, ...], db: str, follow_up: str, out: str) -> None:
    """Write chosen exceptions (IDs, or by follow-up) with their evidence as JSONL eval cases."""

    def fetch(sql: str, params: Sequence[Any]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        return read_query(db, sql, params)

    target = writable_file(out, "--out")
    try:
        chosen = select_ids(fetch, ids, follow_up)
    except ValueError as exc:
        fail(str(exc))
        return
    with replaced(target, "--out") as f:
        for case in eval_cases(fetch, chosen):
            f.write(json.dumps(case, ensure_ascii=False, sort_keys=True, default=str) + "\n")
    click.echo(f"wrote {len(chosen)} eval case{'s' if len(chosen) != 1 else ''} to {out}")


def _export_parquet(db: str, out_dir: str) -> None:
    info = find_server(db)
    if info is None and not Path(db).exists():
        fail(f"no exception log at {db}: pass --db")
    target = writable_folder(out_dir, "--parquet")
    tables: list[str] = []
    if info is not None:
        try:
            _, rows = remote_query(info, _TABLES_SQL, None, current_token())
            tables = [str(r[0]) for r in rows]
            for table in tables:
                remote_export(info, table, target / f"{table}.parquet", current_token())
        except RemoteUnavailableError:
            info = None
        except RemoteError as exc:
            fail(str(exc))
    if info is None:
        tables = _export_direct(db, target)
    click.echo(f"exported {len(tables)} tables to {target}: {', '.join(tables)}")


def _export_direct(db: str, target: Path) -> list[str]:
    with open_log(db, read_only=True) as log:
        _, rows = log.query(_TABLES_SQL)
        tables = [str(r[0]) for r in rows]
        for table in tables:
            dest = target / f"{table}.parquet"
            tmp = dest.with_name(dest.name + ".part")
            quoted = str(tmp).replace("'", "''")
            try:
                log.con.execute(f"COPY (SELECT * FROM \"{table}\") TO '{quoted}' (FORMAT parquet)")
            except duckdb.Error as exc:
                fail(f"export of {table} failed: {exc}")
            os.replace(tmp, dest)
    return tables
