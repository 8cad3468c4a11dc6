"""Fixtures: a real `spansift serve` subprocess per test, killed in teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from receiver_helpers import Server


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(*args: str, db: Path | None = None) -> Server:
        server = Server(db or tmp_path / "log.duckdb", tmp_path, args)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.kill()


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server()
