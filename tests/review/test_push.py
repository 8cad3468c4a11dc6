"""Pushed notifications: one message per new or regressed pattern, durable across restarts."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from review_helpers import Serve, WebhookSink, hit, send_failed_tool

from spansift.notify.push import Notifier
from spansift.notify.webhooks import Hook
from spansift.store.log import ExceptionLog


def _wait(check: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _hooks(tmp_path: Path, sink: WebhookSink) -> Path:
    path = tmp_path / "hooks.yaml"
    path.write_text(f"webhooks:\n  - name: oncall\n    url: {sink.url}\n")
    return path


def _rows(server: Serve, cli: Callable[..., Result], db: Path, n: int) -> None:
    def written() -> bool:
        out = cli("query", "SELECT count(*) AS n FROM exceptions", "--format", "csv",
                  "--db", str(db)).output  # fmt: skip
        return out.splitlines()[-1] == str(n)

    _wait(written, f"{n} rows")


def test_one_message_per_new_pattern_across_a_restart(
    db: Path,
    tmp_path: Path,
    cli: Callable[..., Result],
    serve: Callable[..., Serve],
    target: Callable[[int], WebhookSink],
) -> None:
    """Six rows of two patterns give two messages; after a restart only the new pattern's."""
    sink = target(0)
    hooks = _hooks(tmp_path, sink)
    server = serve(db, "--webhooks", str(hooks))
    for tool in ("refund_order", "refund_order", "refund_order", "search", "search", "search"):
        send_failed_tool(f"{server.url}/v1/traces", tool)
    _rows(server, cli, db, 6)
    _wait(lambda: len(sink.requests) >= 2, "two messages")
    assert server.stop() == 0
    assert sorted(b["pattern"]["tool"] for b in sink.bodies()) == ["refund_order", "search"]
    assert {b["event"] for b in sink.bodies()} == {"pattern.new"}

    server = serve(db, "--webhooks", str(hooks))
    for tool in ("refund_order", "search", "charge_card", "charge_card"):
        send_failed_tool(f"{server.url}/v1/traces", tool)
    _rows(server, cli, db, 10)
    _wait(lambda: len(sink.requests) >= 3, "the new pattern's message")
    assert server.stop() == 0
    assert [b["pattern"]["tool"] for b in sink.bodies()][2:] == ["charge_card"]
    assert len(sink.requests) == 3
    ids = {h["X-Spansift-Delivery"] for h, _ in sink.requests}
    assert len(ids) == 3


def test_pending_messages_survive_a_restart_and_go_once(
    db: Path,
    tmp_path: Path,
    cli: Callable[..., Result],
    serve: Callable[..., Serve],
    target: Callable[[int], WebhookSink],
) -> None:
    """A hook that is down keeps the message pending; the next start delivers it once."""
    sink = target(10**6)  # down
    hooks = _hooks(tmp_path, sink)
    server = serve(db, "--webhooks", str(hooks))
    send_failed_tool(f"{server.url}/v1/traces", "refund_order")
    _rows(server, cli, db, 1)
    _wait(lambda: len(sink.requests) >= 4, "one round of retries")
    assert server.stop() == 0
    assert sink.bodies() == []

    sink.fail_first = 0  # the hook is back
    server = serve(db, "--webhooks", str(hooks))
    _wait(lambda: len(sink.bodies()) == 1, "the delivery after the restart")
    assert server.stop() == 0
    server = serve(db, "--webhooks", str(hooks))
    time.sleep(0.5)  # a third start must not send it again
    assert server.stop() == 0
    assert len(sink.bodies()) == 1
    assert sink.bodies()[0]["pattern"]["tool"] == "refund_order"


def _notifier(log: ExceptionLog, hook: Hook) -> Notifier:
    notifier = Notifier(log, [hook], poll_s=0.05)
    log.listeners.append(notifier.listener)
    notifier.start()
    return notifier


def test_rate_limit_per_owner_and_slack_payload(
    db: Path, target: Callable[[int], WebhookSink]
) -> None:
    """One message per owner per hour: the second pattern waits; the body is Slack's shape."""
    sink = target(0)
    hook = Hook("slack", sink.url, format="slack", max_per_hour=1)
    with ExceptionLog(db) as log:
        notifier = _notifier(log, hook)
        log.write([hit(1, owner="payments", age_days=0), hit(2, tool="charge", owner="payments")])
        log.write([hit(3, tool="search", owner="support", age_days=0)])
        _wait(lambda: len(sink.requests) >= 2, "two messages")
        time.sleep(0.3)
        notifier.stop(time.monotonic() + 10)
        _, state = log.query("SELECT owner, state FROM notifications ORDER BY owner, state")
    assert state == [("payments", "delivered"), ("payments", "pending"), ("support", "delivered")]
    body = sink.bodies()[0]
    assert body["text"].startswith("New exception pattern: medium tool_error in support")
    assert body["blocks"][0]["type"] == "section"


def test_a_regression_is_announced_once(db: Path, target: Callable[[int], WebhookSink]) -> None:
    """After a resolve, the pattern's next row sends `pattern.regressed`; the one after, nothing."""
    from spansift.review.actions import apply

    sink = target(0)
    with ExceptionLog(db) as log:
        notifier = _notifier(log, Hook("h", sink.url))
        log.write([hit(1, age_days=1)])
        _wait(lambda: len(sink.requests) == 1, "the new pattern")
        apply(log, {"op": "decide", "action": "resolve", "actor": "a", "resolution": "fixed",
                    "filter": {"rule": "tool-failed"}})  # fmt: skip
        log.write([hit(2, age_days=-0.0001)])
        _wait(lambda: len(sink.requests) == 2, "the regression")
        log.write([hit(3, age_days=-0.0002)])
        time.sleep(0.4)
        notifier.stop(time.monotonic() + 10)
    assert [b["event"] for b in sink.bodies()] == ["pattern.new", "pattern.regressed"]


def test_notify_does_not_repeat_a_pushed_pattern(
    db: Path, tmp_path: Path, cli: Callable[..., Result], target: Callable[[int], WebhookSink]
) -> None:
    """`spansift notify` catches up only what no push covered for that hook."""
    sink = target(0)
    with ExceptionLog(db) as log:
        notifier = _notifier(log, Hook("oncall", sink.url))
        log.write([hit(1, age_days=0.1), hit(2, age_days=0.1)])
        _wait(lambda: len(sink.requests) == 1, "the pushed pattern")
        notifier.stop(time.monotonic() + 10)
        log.write([hit(3, tool="search", age_days=0.1)])  # written with no notifier running
    result = cli("notify", "--webhooks", str(_hooks(tmp_path, sink)), "--db", str(db))
    assert result.output == "oncall: 1 delivered, 0 failed\n"
    assert [b.get("exception", {}).get("tool") for b in sink.bodies()] == [None, "search"]
