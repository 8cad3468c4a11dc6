"""The review page on the receiver's HTTP port.

    GET  /review                 the page (with a token set: `/review?token=T` once, then a cookie)
    GET  /review/api/review?days=7&by=workflow   the review as JSON
    GET  /review/api/trace?id=ID                 a row and its evidence as a span tree
    GET  /review/api/rows?fingerprint=FP         the rows of a pattern, newest first
    POST /review/api/act         a button: {action, fingerprint, actor, ...}

With `--token`, every request needs `Authorization: Bearer T` or the cookie the page's first
visit set (HttpOnly, SameSite=Strict). Posts also need `X-Spansift-Review: 1`, which a
cross-site form cannot send. The listener binds loopback unless `--host` says otherwise.

Threading contract: `handle` runs on the HTTP handler's thread. Reads use a cursor of their
own in a read-only transaction (`reader`), so a slow review never holds the writer's lock;
writes go through the receiver's `act`, as `spansift ack` does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import duckdb

from spansift.receiver._wire import token_ok
from spansift.review.actions import ActionError
from spansift.review.page import page_html
from spansift.review.page_api import (
    Act,
    Fetch,
    act_on_pattern,
    pattern_rows,
    review_data,
    trace_tree,
)
from spansift.review.report import BY

COOKIE = "spansift_review"
MAX_BODY = 64 << 10


def reader(con: duckdb.DuckDBPyConnection) -> Fetch:
    """Read-only SQL on a fresh cursor of `con`, native values (datetimes stay datetimes)."""

    def fetch(sql: str, params: Sequence[Any]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        cursor = con.cursor()
        try:
            cursor.execute("BEGIN TRANSACTION READ ONLY")
            cursor.execute(sql, list(params))
            columns = tuple(d[0] for d in cursor.description or ())
            return columns, cursor.fetchall()
        finally:
            cursor.close()  # also ends the transaction

    return fetch


@dataclass(frozen=True, slots=True)
class ReviewPages:
    """What the page needs from the receiver."""

    fetch: Fetch
    act: Act
    token: str | None


def _send(handler: BaseHTTPRequestHandler, status: int, kind: str, body: bytes,
          headers: dict[str, str] | None = None) -> None:  # fmt: skip
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Cache-Control", "no-store")
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def _json(handler: BaseHTTPRequestHandler, status: int, doc: Any) -> None:
    _send(handler, status, "application/json", json.dumps(doc, default=str).encode())


def _session(token: str) -> str:
    """The cookie's value: a digest of the token, so the token itself never sits in a cookie
    jar and any token text makes a valid cookie."""
    return hashlib.sha256(b"spansift-review\x1f" + token.encode()).hexdigest()


def _cookie_ok(pages: ReviewPages, handler: BaseHTTPRequestHandler) -> bool:
    raw = handler.headers.get("Cookie")
    if not raw or not pages.token:
        return False
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed cookie header is simply not a login
        return False
    found = jar.get(COOKIE)
    expected = _session(pages.token)
    return found is not None and hmac.compare_digest(found.value.encode(), expected.encode())


def handle(pages: ReviewPages | None, handler: BaseHTTPRequestHandler, method: str) -> None:
    """Answer one request under /review."""
    parts = urlsplit(handler.path)
    query = parse_qs(parts.query)
    if pages is None:
        _json(handler, HTTPStatus.SERVICE_UNAVAILABLE, {"error": "no review on this server"})
        return
    given = (query.get("token") or [""])[0]
    if (
        parts.path == "/review"
        and given
        and pages.token
        and hmac.compare_digest(given.encode(), pages.token.encode())
    ):
        cookie = f"{COOKIE}={_session(pages.token)}; HttpOnly; SameSite=Strict; Path=/review"
        _send(handler, HTTPStatus.SEE_OTHER, "text/plain", b"",
              {"Location": "/review", "Set-Cookie": cookie})  # fmt: skip
        return
    authorized = token_ok(pages.token, handler.headers.get("Authorization"))
    if not (authorized or _cookie_ok(pages, handler)):
        _json(handler, HTTPStatus.UNAUTHORIZED,
              {"error": "open /review?token=TOKEN once (the serve --token)"})  # fmt: skip
        return
    routes: dict[tuple[str, str], Callable[[], None]] = {
        ("GET", "/review"): lambda: _send(
            handler, HTTPStatus.OK, "text/html; charset=utf-8", page_html().encode()
        ),
        ("GET", "/review/api/review"): lambda: _review(pages, handler, query),
        ("GET", "/review/api/trace"): lambda: _trace(pages, handler, query),
        ("GET", "/review/api/rows"): lambda: _json(
            handler,
            HTTPStatus.OK,
            pattern_rows(pages.fetch, (query.get("fingerprint") or [""])[0]),
        ),
        ("POST", "/review/api/act"): lambda: _act(pages, handler),
    }
    route = routes.get((method, parts.path))
    if route is None:
        _json(handler, HTTPStatus.NOT_FOUND, {"error": f"no {method} {parts.path}"})
        return
    try:
        route()
    except ActionError as exc:
        _json(handler, HTTPStatus.BAD_REQUEST, {"error": str(exc)})


def _review(pages: ReviewPages, handler: BaseHTTPRequestHandler, query: dict[str, Any]) -> None:
    try:
        days = float((query.get("days") or ["7"])[0])
    except ValueError:
        days = 7.0
    by = (query.get("by") or ["workflow"])[0]
    _json(handler, HTTPStatus.OK, review_data(pages.fetch, days, by if by in BY else "workflow"))


def _trace(pages: ReviewPages, handler: BaseHTTPRequestHandler, query: dict[str, Any]) -> None:
    exception_id = (query.get("id") or [""])[0]
    if len(exception_id) < 8:
        _json(handler, HTTPStatus.BAD_REQUEST, {"error": "give ?id= with 8 or more hex digits"})
        return
    _json(handler, HTTPStatus.OK, trace_tree(pages.fetch, exception_id))


def _act(pages: ReviewPages, handler: BaseHTTPRequestHandler) -> None:
    if handler.headers.get("X-Spansift-Review") != "1":
        _json(handler, HTTPStatus.FORBIDDEN, {"error": "send X-Spansift-Review: 1"})
        return
    try:
        length = int(handler.headers.get("Content-Length", ""))
    except ValueError:
        length = -1
    if not 0 <= length <= MAX_BODY:
        handler.close_connection = True
        _json(handler, HTTPStatus.BAD_REQUEST, {"error": "send a JSON body under 64 KiB"})
        return
    try:
        doc = json.loads(handler.rfile.read(length))
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        _json(handler, HTTPStatus.BAD_REQUEST, {"error": "send a JSON object"})
        return
    _json(handler, HTTPStatus.OK, act_on_pattern(pages.fetch, pages.act, doc))
