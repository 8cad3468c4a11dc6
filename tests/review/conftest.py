"""Fixtures for the review loop tests: a CLI invoker and `spansift serve` subprocesses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from review_helpers import Serve

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
