"""Chain entries per write batch: one hash over a digest of every row a transaction wrote.

Since schema 7 a write (`ExceptionLog.write`, `append`) adds one `log_chain` entry of
kind `batch`, whatever the number of rows. Its members are kept in `log_batches`, one
row per entry: `groups` is a JSON array of `[kind, digest, [row_id, ...]]`, one
group per kind of row (exception, span, link, ...), rows in write order.

A group's digest is `sha256` of its rows' values encoded as compact JSON arrays,
`CHUNK` rows to an array, timestamps as ISO text with microseconds (the encoding is
the same whether the values come from the writer or are read back from DuckDB or
through a receiver). The entry's hash is `sha256(prev_hash "\\n" body)`, where the
body lists `kind digest` per group, one a line: any changed, deleted or inserted row
changes a digest (or is left out of every batch), and so the entry's hash.

A group of large rows (trace documents, schema 9) is itemized: its listing has a fourth
member, the `sha256` of each row's encoding, and its digest is the `sha256` of those
hex digests joined, so `verify` names the very row that changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

BATCH = "batch"
CHUNK = 512  # rows per JSON array hashed (a fixed part of the format)
_ISO = "%Y-%m-%dT%H:%M:%S.%f"


def plain(value: Any) -> Any:
    """What a timestamp (or date) is hashed as: the text verify reads back from SQL."""
    if type(value) is datetime and value.year >= 1000:
        return value.isoformat(timespec="microseconds")  # what strftime(_ISO) gives, faster
    if isinstance(value, datetime):
        return value.strftime(_ISO)
    if isinstance(value, date):
        return value.isoformat()
    msg = f"cannot chain a value of type {type(value).__name__}"
    raise TypeError(msg)


encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=plain).encode


def digest(rows: Sequence[Sequence[Any]]) -> str:
    """The digest of rows, in order (see the module docstring)."""
    hasher = hashlib.sha256()
    for start in range(0, len(rows), CHUNK):
        hasher.update(encode(rows[start : start + CHUNK]).encode())
    return hasher.hexdigest()


def row_digests(encoded: Sequence[str]) -> list[str]:
    """Each row's digest in an itemized group, from its encoding (as `encode` gives it)."""
    return [hashlib.sha256(text.encode()).hexdigest() for text in encoded]


def itemized_digest(digests: Sequence[str]) -> str:
    """An itemized group's digest over its rows' digests, in order."""
    return hashlib.sha256("".join(digests).encode()).hexdigest()


Listed = tuple[str, str, list[str], list[str] | None]  # kind, digest, row ids, row digests


@dataclass(frozen=True, slots=True)
class Group:
    """The rows of one kind in a batch: their chain row ids and values, in write order."""

    kind: str
    row_ids: tuple[str, ...]
    rows: tuple[Sequence[Any], ...]
    encoded: tuple[str, ...] = ()  # instead of `rows`, itemized: each row as `encode` gives it


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One chain entry covering a write batch, and the `log_batches` row naming its rows."""

    seq: int
    row_id: str  # "<n> rows"
    prev_hash: str
    row_hash: str
    groups: str  # JSON: [[kind, digest, [row_id, ...]], ...]
    rows: int


def entry_hash(prev_hash: str, digests: Sequence[tuple[str, str]]) -> str:
    """The hash of a batch entry over (kind, digest) per group, after `prev_hash`."""
    body = "".join(f"{kind} {found}\n" for kind, found in digests)
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def extend(head: tuple[int, str], groups: Sequence[Group]) -> BatchEntry | None:
    """The entry chaining `groups` after `head` = (seq, hash); None when no row is new."""
    groups = [g for g in groups if g.row_ids]
    if not groups:
        return None
    seq, prev = head
    digests: list[tuple[str, str]] = []
    listed: list[list[Any]] = []
    for g in groups:
        if g.encoded:
            items = row_digests(g.encoded)
            digests.append((g.kind, itemized_digest(items)))
            listed.append([g.kind, digests[-1][1], list(g.row_ids), items])
        else:
            digests.append((g.kind, digest(g.rows)))
            listed.append([g.kind, digests[-1][1], list(g.row_ids)])
    count = sum(len(g.row_ids) for g in groups)
    return BatchEntry(
        seq + 1, f"{count} rows", prev, entry_hash(prev, digests), encode(listed), count
    )


@dataclass(frozen=True, slots=True)
class Check:
    """What recomputing one batch entry found: rows missing, groups changed, hash."""

    seen: tuple[tuple[str, str], ...]  # (kind, row_id) of every member
    deleted: tuple[tuple[str, str], ...]
    changed: tuple[tuple[str, tuple[str, ...]], ...]  # (kind, row ids) of a changed group
    hash_ok: bool  # the entry's hash matches the rows as stored now


def parse_groups(text: object) -> list[Listed] | None:
    """The stored groups of a `log_batches` row (JSON text, or already decoded); None when
    they are not groups (an edited listing)."""
    try:
        doc = json.loads(text) if isinstance(text, str | bytes) else text
        if not isinstance(doc, list):
            return None
        return [
            (
                str(g[0]),
                str(g[1]),
                [str(r) for r in g[2]],
                [str(d) for d in g[3]] if len(g) > 3 else None,
            )
            for g in doc
        ]
    except (ValueError, TypeError, IndexError, KeyError):
        return None


def check(
    prev_hash: str,
    row_hash: str,
    groups: Sequence[Listed],
    rows: Mapping[tuple[str, str], Sequence[Any]],
) -> Check:
    """Recompute a batch entry from the rows as stored now (`rows` keyed by (kind, id))."""
    seen: list[tuple[str, str]] = []
    deleted: list[tuple[str, str]] = []
    changed: list[tuple[str, tuple[str, ...]]] = []
    digests: list[tuple[str, str]] = []
    for kind, stored, row_ids, items in groups:
        present: list[Sequence[Any]] = []
        named: list[str] = []  # itemized: rows whose digest differs from the listed one
        found_items: list[str] = []
        for n, row_id in enumerate(row_ids):
            seen.append((kind, row_id))
            row = rows.get((kind, row_id))
            if row is None:
                deleted.append((kind, row_id))
                continue
            present.append(row)
            if items is not None:
                found_items.extend(row_digests([encode(row)]))
                if n >= len(items) or found_items[-1] != items[n]:
                    named.append(row_id)
        found = digest(present) if items is None else itemized_digest(found_items)
        digests.append((kind, found))
        changed.extend((kind, (row_id,)) for row_id in named)
        if found != stored and len(present) == len(row_ids) and not named:
            changed.append((kind, tuple(row_ids)))
    ok = entry_hash(prev_hash, digests) == row_hash
    return Check(tuple(seen), tuple(deleted), tuple(changed), ok)
