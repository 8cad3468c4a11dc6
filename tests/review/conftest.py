"""Fixtures for the review loop tests: a CLI invoker and `spansift serve` subprocesses."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from review_helpers import Serve, WebhookSink

from spansift.cli import main


@pytest.fixture
def cli(runner: CliRunner) -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        return runner.invoke(main, list(args))

    return invoke


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def start(db: Path, *args: str) -> Serve:
        server = Serve(db, tmp_path, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def target() -> Iterator[Callable[[int], WebhookSink]]:
    """Start local webhook targets; they are shut down at the end of the test."""
    servers: list[WebhookSink] = []

    def start(fail_first: int = 0) -> WebhookSink:
        server = WebhookSink(fail_first)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()  # fmt: skip
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
