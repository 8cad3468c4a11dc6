"""Notify and contain: webhooks against a real local server, and the suspension switch."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from review_helpers import Serve, WebhookSink, hit, rows, seed

from spansift.model import Severity
from spansift.notify.webhooks import Hook, deliver
from spansift.processor import ExceptionLogProcessor


def test_deliver_retries_until_the_server_answers(target: Callable[[int], WebhookSink]) -> None:
    """Two 503s then a 200: delivered on the third attempt after doubling delays."""
    server = target(2)
    waits: list[float] = []
    outcome = deliver(Hook("h", server.url), {"x": 1}, backoff_s=0.01, sleep=waits.append)
    assert (outcome.delivered, outcome.attempts, outcome.http_status) == (True, 3, 200)
    assert waits == [0.01, 0.02]
    assert len(server.requests) == 3


def test_deliver_gives_up_without_leaking_the_url(target: Callable[[int], WebhookSink]) -> None:
    """A server that keeps failing yields a recorded failure naming only the status."""
    server = target(99)
    outcome = deliver(Hook("h", server.url), {}, attempts=2, sleep=lambda _s: None)
    assert (outcome.delivered, outcome.attempts, outcome.error) == (False, 2, "HTTP 503")


def test_notify_posts_matching_rows_once(
    db: Path,
    tmp_path: Path,
    cli: Callable[..., Result],
    target: Callable[[int], WebhookSink],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """High-severity rows go to the hook with the secret header; outcomes are recorded once."""
    server = target(1)
    monkeypatch.setenv("HOOK_TOKEN", "t0p-s3cret")
    hooks = tmp_path / "hooks.yaml"
    hooks.write_text(
        "webhooks:\n"
        f"  - name: pager\n    url: {server.url}\n"
        "    match: {min_severity: high, workflow: 'support*'}\n"
        "    secret_header: X-Hook-Token\n    secret_env: HOOK_TOKEN\n"
    )
    seed(db, [hit(1, severity=Severity.HIGH, age_days=0.1), hit(2, age_days=0.1)])
    result = cli("notify", "--webhooks", str(hooks), "--db", str(db))
    assert (result.exit_code, result.output) == (0, "pager: 1 delivered, 0 failed\n")
    headers, body = server.requests[-1]
    assert headers["X-Hook-Token"] == "t0p-s3cret"
    assert body["event"] == "exception.open"
    assert body["exception"]["severity"] == "high"
    assert rows(db, "SELECT hook, attempts, delivered, http_status FROM webhook_deliveries") == [
        ("pager", 2, True, 200)
    ]
    assert "t0p-s3cret" not in result.output
    again = cli("notify", "--webhooks", str(hooks), "--db", str(db))
    assert again.output == "pager: 0 delivered, 0 failed\n"
    assert len(server.requests) == 2


def test_suspend_is_seen_by_the_processor(db: Path, cli: Callable[..., Result]) -> None:
    """`spansift suspend` flips `is_suspended` of an in-process processor; `resume` clears it."""
    seed(db, [hit(1)])
    result = cli("suspend", "--agent", "support-agent", "--by", "sre", "--reason", "loop",
                 "--db", str(db))  # fmt: skip
    assert (result.exit_code, result.output) == (0, "agent support-agent: suspended\n")
    processor = ExceptionLogProcessor(db=str(db), rules=[])
    try:
        assert processor.is_suspended("support-agent")
        assert not processor.is_suspended("other-agent")
    finally:
        processor.shutdown()
    cli("resume", "--agent", "support-agent", "--by", "sre", "--reason", "fixed", "--db", str(db))
    processor = ExceptionLogProcessor(db=str(db), rules=[])
    try:
        assert not processor.is_suspended("support-agent")
    finally:
        processor.shutdown()
    assert cli("verify", "--db", str(db)).exit_code == 0


def test_suspend_through_a_running_receiver(
    db: Path, cli: Callable[..., Result], serve: Callable[..., Serve]
) -> None:
    """A workflow suspended while serving is reported by GET /spansift/suspended at once."""
    seed(db, [hit(1)])
    server = serve(db)
    result = cli("suspend", "--workflow", "billing", "--by", "sre", "--reason", "refund storm",
                 "--db", str(db))  # fmt: skip
    assert result.output == "workflow billing: suspended\n"
    url = f"{server.url}/spansift/suspended?agent=a&workflow=billing"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert json.load(response)["suspended"] is True
    assert server.stop() == 0
    assert rows(db, "SELECT target, action FROM suspensions") == [("billing", "suspend")]
