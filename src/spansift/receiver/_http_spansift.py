"""The receiver's own HTTP endpoints: health, read-only SQL, exports, review writes.

    GET  /health[?challenge=C]          200 while alive and working (+ proof of identity)
    POST /spansift/query                {"sql", "params", "stream"} -> one document or NDJSON
    GET  /spansift/export?table=NAME    a Parquet snapshot of one table
    POST /spansift/act                  a review write; always needs a bearer token
    GET  /spansift/suspended?agent=A&workflow=W

A streamed query answers `application/x-ndjson`: a header line with `columns` and
`types`, lines of `rows`, then `{"end": true, "rows": N}`, or `{"error": ...}` when
the query fails part way. A reader that sees no end line knows the answer is cut.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from spansift._private import proof
from spansift.receiver._http_base import BaseHandler
from spansift.receiver._http_io import BodyTooLargeError, MalformedBodyError, RequestTimeoutError
from spansift.receiver._intake import Intake
from spansift.receiver._query import QueryBusyError, QueryError, QueryService
from spansift.receiver._wire import token_ok

JSON_BODY_LIMIT = 1 << 20
NDJSON = "application/x-ndjson"
# A review write: the request document in, a JSON answer out; ValueError means refused.
Act = Callable[[dict[str, Any]], dict[str, Any]]


class EndpointServer(Protocol):
    """What the endpoints need of the server they run in."""

    intake: Intake
    queries: QueryService
    act: Act | None
    act_token: str | None
    identity_key: str
    alive: Callable[[], bool]
    suspended: Callable[[str | None, str | None], bool]


class SpansiftEndpoints(BaseHandler):
    def _endpoints(self) -> EndpointServer:
        server: EndpointServer = self.server  # type: ignore[assignment]
        return server

    def _health(self) -> None:
        """200 while the receiver is alive and its worker runs; load is in /spansift/stats.

        `?challenge=C` adds `proof`, an HMAC of C under the key in the discovery file,
        so a client can tell this receiver from a listener named in a planted file.
        """
        server = self._endpoints()
        doc: dict[str, Any] = {"status": "ok"}
        status = HTTPStatus.OK
        if server.intake.stopping:
            doc["status"] = "stopping"
        elif not server.alive():
            doc["status"], status = "worker stopped", HTTPStatus.SERVICE_UNAVAILABLE
        challenge = (parse_qs(urlsplit(self.path).query).get("challenge") or [""])[0]
        if challenge and server.identity_key:
            doc["proof"] = proof(server.identity_key, challenge[:128])
        self._json(status, doc)

    def _suspended(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        agent = next(iter(query.get("agent") or ()), None)
        workflow = next(iter(query.get("workflow") or ()), None)
        suspended = self._endpoints().suspended(agent, workflow)
        self._json(HTTPStatus.OK, {"agent": agent, "workflow": workflow, "suspended": suspended})

    def _json_body(self, shape: str) -> dict[str, Any] | None:
        """The request's JSON object, or None after answering 400 (`shape` shows what to send)."""
        frame = self._framing()
        if frame is None:
            return None
        if not frame.chunked and frame.length is None:
            self.close_connection = True
            self._json(HTTPStatus.BAD_REQUEST, {"error": "send a JSON body under 1 MiB"})
            return None
        try:
            raw = self._read_body(frame, JSON_BODY_LIMIT)
        except EOFError:
            self.close_connection = True
            return None
        except (BodyTooLargeError, MalformedBodyError, RequestTimeoutError) as exc:

            def too_large(_message: str) -> None:
                self._json(HTTPStatus.BAD_REQUEST, {"error": "send a JSON body under 1 MiB"})

            self._body_failed(exc, too_large)
            return None
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            doc = None
        if not isinstance(doc, dict):
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"send {shape}"})
            return None
        return doc

    def _query(self) -> None:
        shape = '{"sql": "...", "params": [...], "stream": true|false}'
        doc = self._json_body(shape)
        if doc is None:
            return
        sql, params = doc.get("sql"), doc.get("params") or []
        if not isinstance(sql, str) or not isinstance(params, list):
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"send {shape}"})
            return
        queries = self._endpoints().queries
        try:
            if doc.get("stream") is True:
                self._stream(queries, sql, params)
                return
            result = queries.run(sql, params)
        except QueryBusyError:
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "busy"}, {"Retry-After": "1"})
        except QueryError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        else:
            self._json(HTTPStatus.OK, result)

    def _stream(self, queries: QueryService, sql: str, params: list[Any]) -> None:
        """Answer NDJSON in batches; an error after the header becomes the last line."""
        with queries.stream(sql, params) as (columns, types, batches):
            self.close_connection = True  # the end of the body is the end of the connection
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", NDJSON)
            self.send_header("Connection", "close")
            self.end_headers()
            self._line({"columns": columns, "types": types})
            count = 0
            try:
                for batch in batches:
                    self._line({"rows": batch})
                    count += len(batch)
            except QueryError as exc:
                self._line({"error": str(exc), "rows": count})
                return
            self._line({"end": True, "rows": count})

    def _line(self, doc: dict[str, Any]) -> None:
        self.wfile.write(json.dumps(doc).encode() + b"\n")

    def _act(self) -> None:
        server = self._endpoints()
        if not token_ok(server.act_token, self.headers.get("Authorization")):
            self._discard(self._framing())
            self._plain(
                HTTPStatus.UNAUTHORIZED,
                "review writes need the receiver's token (--token, or the <db>.token file)",
                {"WWW-Authenticate": 'Bearer realm="spansift"'},
            )
            return
        doc = self._json_body('{"op": "...", ...}')
        if doc is None:
            return
        if server.act is None:
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "no writer"})
            return
        try:
            answer = server.act(doc)
        except ValueError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except Exception as exc:  # a failing write must answer, not drop the connection
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"write failed: {exc}"})
        else:
            self._json(HTTPStatus.OK, answer)

    def _export(self) -> None:
        table = (parse_qs(urlsplit(self.path).query).get("table") or [""])[0]
        try:
            path = self._endpoints().queries.export(table)
        except QueryBusyError:
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "busy"}, {"Retry-After": "1"})
            return
        except QueryError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        try:
            size = path.stat().st_size
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/vnd.apache.parquet")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    self.wfile.write(chunk)
        finally:
            path.unlink(missing_ok=True)
