"""Notifications as rows are written: `push` (a message per pattern, to its owner) and
`webhooks` (targets, payloads and delivery)."""

from spansift.notify.push import Notifier
from spansift.notify.webhooks import Hook, parse_hooks

__all__ = ["Hook", "Notifier", "parse_hooks"]
