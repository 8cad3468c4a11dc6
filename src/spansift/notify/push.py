"""Pushed notifications: one webhook message per new or regressed pattern, as rows are written.

`Notifier(log, hooks)` listens to the log's writes (`store.events`) and works on a thread
of its own, so the write path never waits for a webhook:

1. scan: every pattern whose first row was written after the hook started watching
   (`notify_cursors`) is an event `new`; a pattern with a `regressed` row is an event
   `regressed`, once per resolution it regressed from. Each (hook, pattern, event) becomes
   one `notifications` row, `pending`, keyed so a second scan adds nothing.
2. deliver: pending rows are posted oldest first, with the hook's retries and backoff
   (`webhooks.deliver`). At most `max_per_hour` messages per owner per hook go out in any
   hour; the rest wait, pending. A failed round is tried again after 30 s, doubling up to
   10 minutes; a 4xx other than 429 marks the row `refused`.

The state lives in the database, so a restart neither loses a pending message nor repeats a
delivered one. Only a crash between the hook's answer and the row's update can send one
twice, and every message carries `X-Spansift-Delivery` (the row id) to drop that copy.

Threading contract: `listener` may be called on any thread and only sets an event; `start`
and `stop` are for the owner of the log; the log's lock is held for reads and updates,
never while a request is in flight.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from spansift.notify.webhooks import Hook, deliver, pattern_payload
from spansift.store.events import EXCEPTIONS, Written
from spansift.store.log import ExceptionLog
from spansift.store.rows import utc_now

_logger = logging.getLogger(__name__)
POLL_S = 5.0  # also look when nothing was written: a pause ran out, a rate window moved on
RETRY_S, MAX_RETRY_S = 30.0, 600.0

# Patterns touched since a time: when their first row was written, the latest regressed row,
# and the resolution it regressed from.
_EVENTS_SQL = """
WITH touched AS (
    SELECT DISTINCT p.fingerprint
    FROM exception_rows r JOIN exception_patterns p USING (exception_id)
    WHERE r.detected_at >= ?
), resolved AS (
    SELECT p.fingerprint, d.decided_at FROM decisions d
    JOIN exception_patterns p USING (exception_id) WHERE d.action = 'resolve'
    UNION ALL SELECT fingerprint, decided_at FROM pattern_decisions WHERE action = 'resolve'
)
SELECT p.fingerprint,
       min(e.detected_at) AS first_written,
       arg_min(e.exception_id, e.detected_at) AS first_id,
       arg_max(e.exception_id, e.detected_at) FILTER (WHERE e.status = 'regressed') AS regressed_id,
       (SELECT max(r.decided_at) FROM resolved r WHERE r.fingerprint = p.fingerprint) AS resolved_at
FROM exceptions e JOIN exception_patterns p USING (exception_id)
WHERE p.fingerprint IN (SELECT fingerprint FROM touched)
GROUP BY p.fingerprint
"""
_ROW_SQL = """
SELECT e.exception_id, e.occurred_at, e.workflow, e.exception_type, e.severity, e.rule_id,
       e.agent, e.tool, e.summary, e.owner, e.status, e.trace_id, e.span_id, p.fingerprint,
       (SELECT count(*) FROM exception_patterns q WHERE q.fingerprint = p.fingerprint)
           AS exceptions
FROM exceptions e JOIN exception_patterns p USING (exception_id)
WHERE e.exception_id = ?
"""
_PENDING_SQL = """
SELECT notification_id, fingerprint, event, exception_id, owner, attempts, rounds
FROM notifications WHERE hook = ? AND state = 'pending' AND next_at <= ?
ORDER BY created_at, notification_id
"""
_SENT_SQL = """
SELECT count(*) FROM notifications
WHERE hook = ? AND state = 'delivered' AND owner IS NOT DISTINCT FROM ? AND sent_at > ?
"""


def _key(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


class Notifier:
    """Delivers pattern notifications for `hooks`, from the state kept in `log`."""

    def __init__(
        self,
        log: ExceptionLog,
        hooks: Sequence[Hook],
        *,
        attempts: int = 4,
        backoff_s: float = 0.5,
        poll_s: float = POLL_S,
    ) -> None:
        self.log = log
        self.hooks = tuple(hooks)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.poll_s = poll_s
        self.delivered = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._cursors: dict[str, datetime] = {}
        self._scanned: datetime | None = None
        self._thread = threading.Thread(target=self._run, name="spansift-notify", daemon=True)

    def start(self) -> None:
        """Record where each new hook starts watching, then start the thread."""
        now = utc_now()
        with self.log.lock:
            for hook in self.hooks:
                self.log.con.execute(
                    "INSERT INTO notify_cursors VALUES (?, ?) ON CONFLICT DO NOTHING",
                    [hook.name, now],
                )
            # A restart is a fresh chance for what failed before it: do not wait out the pause.
            self.log.con.execute(
                "UPDATE notifications SET next_at = ? WHERE state = 'pending'", [now]
            )
            _, rows = self.log.query("SELECT hook, started_at FROM notify_cursors")
        self._cursors = {str(h): t for h, t in rows}
        self._scanned = min((self._cursors[h.name] for h in self.hooks), default=now)
        self._thread.start()

    def listener(self, written: Written) -> None:
        """What `ExceptionLog.listeners` calls: new rows wake the thread."""
        if written.kind in (EXCEPTIONS, "decision", "pattern_decision"):
            self._wake.set()

    def stop(self, deadline: float) -> None:
        """One last scan and delivery round, then stop by `deadline` (time.monotonic())."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while True:
            self._wake.wait(self.poll_s)
            self._wake.clear()
            try:
                self.scan()
                self.deliver_pending()
            except Exception:  # a bad row or a closed log must not kill the thread silently
                _logger.exception("spansift: pushing notifications failed; will try again")
            if self._stopping.is_set():
                return

    def scan(self) -> int:
        """Add a pending notification per hook for each new or regressed pattern."""
        assert self._scanned is not None
        since = self._scanned - timedelta(seconds=60)  # rows of a transaction still open
        with self.log.lock:
            self._scanned = utc_now()
            columns, raw = self.log.query(_EVENTS_SQL, [since])
            added = 0
            for found in (dict(zip(columns, r, strict=True)) for r in raw):
                added += self._events(found)
        return added

    def _events(self, found: dict[str, Any]) -> int:
        events = []
        if found["regressed_id"] is not None:
            events.append(("regressed", found["regressed_id"], found["resolved_at"]))
        events.append(("new", found["first_id"], ""))
        added = 0
        for event, exception_id, episode in events:
            keys = {
                hook.name: _key(hook.name, found["fingerprint"], event, episode)
                for hook in self.hooks
                if event != "new" or found["first_written"] >= self._cursors[hook.name]
            }  # a pattern older than a hook is never new to it
            if not keys:
                continue
            _, known = self.log.query(
                "SELECT notification_id FROM notifications WHERE list_contains(?, notification_id)",
                [list(keys.values())],
            )
            if len(known) == len(keys):
                continue  # every hook has this event already: skip reading the row
            columns, rows = self.log.query(_ROW_SQL, [exception_id])
            if not rows:
                continue
            row = dict(zip(columns, rows[0], strict=True))
            now = utc_now()
            for hook in self.hooks:
                if hook.name not in keys or not hook.wants(row):
                    continue
                inserted = self.log.con.execute(
                    "INSERT INTO notifications VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, 0, NULL, "
                    "NULL, ?, ?, NULL) ON CONFLICT DO NOTHING RETURNING 1",
                    [keys[hook.name], hook.name, found["fingerprint"], event, exception_id,
                     row["owner"], now, now],
                ).fetchall()  # fmt: skip
                added += len(inserted)
        return added

    def deliver_pending(self) -> int:
        """Post what is pending and due, within each owner's hourly allowance."""
        sent = 0
        for hook in self.hooks:
            with self.log.lock:
                _, due = self.log.query(_PENDING_SQL, [hook.name, utc_now()])
            for notification_id, fingerprint, event, exception_id, owner, attempts, rounds in due:
                with self.log.lock:
                    hour_ago = utc_now() - timedelta(hours=1)
                    _, count = self.log.query(_SENT_SQL, [hook.name, owner, hour_ago])
                    if int(count[0][0]) >= hook.max_per_hour:
                        continue  # this owner's allowance is used up; it stays pending
                    columns, rows = self.log.query(_ROW_SQL, [exception_id])
                if not rows:
                    continue
                pattern = dict(zip(columns, rows[0], strict=True))
                body = pattern_payload(hook, str(event), pattern)
                outcome = deliver(
                    hook, body, attempts=self.attempts, backoff_s=self.backoff_s,
                    delivery_id=str(notification_id),
                )  # fmt: skip
                refused = outcome.http_status is not None and 400 <= outcome.http_status < 500
                refused = refused and outcome.http_status != 429 and not outcome.delivered
                state = "delivered" if outcome.delivered else "refused" if refused else "pending"
                failed_rounds = int(rounds) + (state == "pending")
                pause = min(RETRY_S * 2 ** max(failed_rounds - 1, 0), MAX_RETRY_S)
                now = utc_now()
                with self.log.lock:
                    self.log.con.execute(
                        "UPDATE notifications SET state = ?, attempts = ?, rounds = ?, "
                        "http_status = ?, error = ?, next_at = ?, sent_at = ? "
                        "WHERE notification_id = ?",
                        [state, int(attempts) + outcome.attempts, failed_rounds,
                         outcome.http_status, outcome.error, now + timedelta(seconds=pause),
                         now if outcome.delivered else None, notification_id],
                    )  # fmt: skip
                if outcome.delivered:
                    sent += 1
                    self.delivered += 1
                else:
                    _logger.warning(
                        "spansift: webhook %s: %s %s not delivered (%s)",
                        hook.name, event, fingerprint, outcome.error,
                    )  # fmt: skip
        return sent
