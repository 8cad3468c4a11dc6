"""Client side of a running `spansift serve`: find it, query it, export through it.

While the receiver holds the DuckDB file no other process can open it, not even
read-only. The receiver writes `<db>.serve.json` (pid, URL and a per-start key,
never the token) and answers read-only SQL on its HTTP port; this module reads
that file and talks to the endpoint with urllib, typing the values back
(timestamps, decimals, blobs) so callers see what a direct DuckDB query would
return. The file is trusted only when it is private to the user, and the
receiver must prove it knows the key before any token is sent to it.

Every function blocks on one HTTP exchange with a timeout; all are thread-safe.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import os
import shutil
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spansift._private import discovery_path, new_challenge, proof_ok, read_private, token_path
from spansift.errors import SpansiftError

TIMEOUT_S = 60.0
PROOF_TIMEOUT_S = 5.0


class RemoteError(SpansiftError):
    """The receiver answered with an error (bad SQL, wrong token, ...)."""


class RemoteUnavailableError(SpansiftError):
    """No receiver answered at the announced address (it stopped or crashed)."""


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """A running receiver as announced in its discovery file."""

    pid: int
    url: str
    token_required: bool
    tls_cert: str | None = None  # the certificate of an https receiver, trusted by its clients


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_server(db: str | Path) -> ServerInfo | None:
    """The receiver serving `db`: its discovery file is private to us, its process lives,
    and the listener at its URL proves it knows the file's per-start key.

    A planted, foreign or stale file gives None, so no token is ever sent to it.
    """
    text = read_private(discovery_path(db))
    if text is None:
        return None
    try:
        doc = json.loads(text)
        cert = doc.get("tls_cert")
        info = ServerInfo(
            int(doc["pid"]),
            str(doc["url"]),
            bool(doc.get("token_required")),
            str(cert) if cert else None,
        )
        key = str(doc["key"])
    except (ValueError, KeyError, TypeError):
        return None
    if not _alive(info.pid) or not _proves(info, key):
        return None
    return info


def _proves(info: ServerInfo, key: str) -> bool:
    challenge = new_challenge()
    request = urllib.request.Request(f"{info.url}/health?challenge={challenge}")
    try:
        with open_url(info, request, PROOF_TIMEOUT_S) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            answer = json.loads(exc.read() or b"{}") if exc.code == 503 else {}
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return isinstance(answer, dict) and proof_ok(key, challenge, answer.get("proof"))


def write_token(db: str | Path) -> str | None:
    """The token a receiver generated for review writes on `db`, if it is ours to read."""
    text = read_private(token_path(db))
    return text.strip() or None if text else None


def _request(
    info: ServerInfo, path: str, token: str | None, body: dict[str, Any] | None = None
) -> Any:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(info.url + path, data=data, headers=headers)
    try:
        return open_url(info, request)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        exc.close()
        try:
            detail = json.loads(detail)["error"]
        except (ValueError, KeyError, TypeError):
            detail = detail.strip()
        if exc.code == 401:
            msg = f"the receiver at {info.url} needs a token: pass --token or set SPANSIFT_TOKEN"
            raise RemoteError(msg) from None
        msg = f"receiver at {info.url} answered {exc.code}: {detail}"
        raise RemoteError(msg) from None
    except (urllib.error.URLError, OSError) as exc:
        msg = f"no receiver at {info.url}: {exc}"
        raise RemoteUnavailableError(msg) from None


def open_url(
    info: ServerInfo, request: urllib.request.Request, timeout_s: float = TIMEOUT_S
) -> Any:
    """`urlopen` for a request to the receiver `info`, trusting its announced certificate."""
    context = None
    if info.tls_cert:
        context = ssl.create_default_context(cafile=info.tls_cert)
        # Pinned to the exact certificate the receiver announced beside the database, which
        # may name the host while the URL says 127.0.0.1; so the name is not compared.
        context.check_hostname = False
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return urllib.request.urlopen(request, timeout=timeout_s, context=context)


def _param(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def _timestamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _converter(type_name: str) -> Callable[[Any], Any] | None:
    name = type_name.upper()
    if name.startswith("TIMESTAMP"):
        return _timestamp
    if name == "DATE":
        return dt.date.fromisoformat
    if name.startswith("TIME"):
        return dt.time.fromisoformat
    if name.startswith("DECIMAL"):
        return decimal.Decimal
    if name == "BLOB":
        return base64.b64decode
    if name == "INTERVAL":
        return lambda seconds: dt.timedelta(seconds=seconds)
    if name == "UUID":
        return uuid.UUID
    return None


def remote_query(
    info: ServerInfo, sql: str, params: Sequence[Any] | None, token: str | None
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """Run one SELECT on the receiver; same shape as `ExceptionLog.query`."""
    columns, _, rows = remote_result(info, sql, params, token)
    return columns, rows


def remote_result(
    info: ServerInfo, sql: str, params: Sequence[Any] | None, token: str | None
) -> tuple[tuple[str, ...], tuple[str, ...], list[tuple[Any, ...]]]:
    """`remote_query` with the DuckDB type name of each column between names and rows.

    The answer is streamed (NDJSON), so results of any size arrive whole; an answer
    that stops before its end line is a `RemoteError`, never a silently short result.
    """
    body = {"sql": sql, "params": [_param(p) for p in params or ()], "stream": True}
    rows: list[tuple[Any, ...]] = []
    columns: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    converters: list[Callable[[Any], Any] | None] = []
    ended = False
    try:
        with _request(info, "/spansift/query", token, body) as response:
            for line in response:
                doc = json.loads(line)
                if "columns" in doc:
                    columns = tuple(doc["columns"])
                    types = tuple(str(t) for t in doc["types"])
                    converters = [_converter(t) for t in doc["types"]]
                elif "error" in doc:
                    msg = f"receiver at {info.url}: query failed after {doc['rows']:,} rows: "
                    raise RemoteError(msg + str(doc["error"]))
                elif doc.get("end"):
                    ended = True
                else:
                    rows.extend(_typed(row, converters) for row in doc["rows"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        msg = f"receiver at {info.url}: the answer broke off after {len(rows):,} rows ({exc})"
        raise RemoteError(msg) from None
    if not ended:
        msg = f"receiver at {info.url}: the answer broke off after {len(rows):,} rows"
        raise RemoteError(msg)
    return columns, types, rows


def _typed(row: list[Any], converters: list[Callable[[Any], Any] | None]) -> tuple[Any, ...]:
    return tuple(
        value if value is None or conv is None else conv(value)
        for value, conv in zip(row, converters, strict=True)
    )


def remote_stats(info: ServerInfo, token: str | None) -> dict[str, Any]:
    """The receiver's counters (`GET /spansift/stats`)."""
    with _request(info, "/spansift/stats", token) as response:
        doc: dict[str, Any] = json.load(response)
    return doc


def remote_export(info: ServerInfo, table: str, dest: Path, token: str | None) -> None:
    """Download a Parquet snapshot of `table` to `dest` (written whole, then renamed)."""
    tmp = dest.with_name(dest.name + ".part")
    with (
        _request(info, f"/spansift/export?table={table}", token) as response,
        tmp.open("wb") as out,
    ):
        shutil.copyfileobj(response, out, 1 << 20)
    os.replace(tmp, dest)
