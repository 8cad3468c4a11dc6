"""Client side of a running `spansift serve`: find it, query it, export through it.

While the receiver holds the DuckDB file no other process can open it, not even
read-only. The receiver writes `<db>.serve.json` (pid and URL, never the token)
and answers read-only SQL on its HTTP port; this module reads that file and
talks to the endpoint with urllib, typing the values back (timestamps,
decimals, blobs) so callers see what a direct DuckDB query would return.

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

from spansift.errors import SpansiftError

TIMEOUT_S = 60.0


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


def discovery_file(db: str | Path) -> Path:
    return Path(f"{db}.serve.json")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_server(db: str | Path) -> ServerInfo | None:
    """The receiver serving `db`, if its discovery file exists and its process is alive."""
    try:
        doc = json.loads(discovery_file(db).read_text())
        cert = doc.get("tls_cert")
        info = ServerInfo(
            int(doc["pid"]),
            str(doc["url"]),
            bool(doc.get("token_required")),
            str(cert) if cert else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if _alive(info.pid) else None


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
    """`remote_query` with the DuckDB type name of each column between names and rows."""
    body = {"sql": sql, "params": [_param(p) for p in params or ()]}
    with _request(info, "/spansift/query", token, body) as response:
        doc = json.load(response)
    converters = [_converter(t) for t in doc["types"]]
    rows: list[tuple[Any, ...]] = []
    for row in doc["rows"]:
        rows.append(
            tuple(
                value if value is None or conv is None else conv(value)
                for value, conv in zip(row, converters, strict=True)
            )
        )
    return tuple(doc["columns"]), tuple(str(t) for t in doc["types"]), rows


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
