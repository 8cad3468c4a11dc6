"""Webhooks go to http(s) URLs only, and their secret never follows a redirect elsewhere."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from spansift.errors import SpansiftError
from spansift.notify.webhooks import Hook, deliver, parse_hooks


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, location: str | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.location = location  # answer 302 to here, or 200 when None
        self.seen: list[dict[str, str]] = []

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()

    def do_GET(self) -> None:
        self.server.seen.append(dict(self.headers))
        location = None if self.path == "/final" else self.server.location
        self.send_response(302 if location else 200)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def serve() -> Iterator[Callable[[str | None], _Server]]:
    servers: list[_Server] = []

    def start(location: str | None) -> _Server:
        server = _Server(location)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_secret_is_not_sent_to_another_host(
    serve: Callable[[str | None], _Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redirect to another host is not followed: that host never sees the request or secret."""
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    elsewhere = serve(None)
    redirector = serve(elsewhere.url())
    hook = Hook("h", redirector.url(), (), "X-Hook-Token", "HOOK_SECRET")
    outcome = deliver(hook, {"x": 1}, sleep=lambda _s: None)
    assert not outcome.delivered
    assert outcome.error == "HTTP 302: redirect to another host, not followed"
    assert redirector.seen[0]["X-Hook-Token"] == "s3cret"
    assert elsewhere.seen == []


def test_redirect_within_the_same_host_is_followed(
    serve: Callable[[str | None], _Server],
) -> None:
    """A redirect to another path on the configured host still delivers."""
    server = serve(None)
    server.location = server.url("/final")
    outcome = deliver(Hook("h", server.url()), {}, sleep=lambda _s: None)
    assert outcome.delivered, outcome
    assert len(server.seen) == 2


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "example.com/hook"])
def test_only_http_and_https_urls_are_accepted(url: str) -> None:
    """Config with another scheme (or none) is an error naming the entry; deliver refuses it too."""
    with pytest.raises(SpansiftError, match=r"webhooks entry 1: 'url' must be an http"):
        parse_hooks([{"name": "h", "url": url}], "spansift.yaml")
    outcome = deliver(Hook("h", url), {})
    assert (outcome.delivered, outcome.attempts) == (False, 0)
