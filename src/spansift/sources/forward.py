"""Send spans to the `spansift serve` that holds the log (for a process that cannot open it).

DuckDB lets one process hold the file. When the in-process processor finds the log
held by a receiver (its `<db>.serve.json`), it sends its spans there over OTLP/HTTP
instead; the receiver judges them like any other sender's.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from spansift.model import Span
from spansift.remote import ServerInfo, find_server
from spansift.sources.otlp_encode import request_from_spans

TIMEOUT_S = 10.0


class Forwarder:
    """Posts batches of spans to a receiver; `send` is False when the receiver did not take them."""

    def __init__(self, info: ServerInfo, token: str | None) -> None:
        self.url = info.url.rstrip("/") + "/v1/traces"
        self.token = token

    @classmethod
    def for_db(cls, db: str | Path) -> Forwarder | None:
        """The receiver holding `db`, if one is running."""
        info = find_server(db)
        if info is None:
            return None
        return cls(info, os.environ.get("SPANSIFT_TOKEN"))

    def send(self, spans: Sequence[Span]) -> bool:
        if not spans:
            return True
        body = request_from_spans(spans).SerializeToString()
        headers = {"Content-Type": "application/x-protobuf"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return bool(200 <= int(response.status) < 300)
        except (urllib.error.URLError, OSError, ValueError):
            return False
