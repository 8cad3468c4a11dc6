"""What the log tells its listeners after a write commits: the new rows, as mappings.

Listeners (the OTel exporter, the webhook notifier) are called on the writer's thread,
after the transaction committed and under the log's lock, so they must only hand the
rows to a queue of their own and return. A listener that raises is logged and skipped:
the write path never fails because of one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_logger = logging.getLogger(__name__)

EXCEPTIONS = "exceptions"  # `kind` of a write of exception rows (chain kinds name the others)


@dataclass(frozen=True, slots=True)
class Written:
    """Rows one transaction added: `kind` is `exceptions` or a chain kind (`decision`, ...)."""

    kind: str
    rows: tuple[Mapping[str, Any], ...]


Listener = Callable[[Written], None]


def tell(listeners: Sequence[Listener], kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Call every listener with the new rows; never raises."""
    if not rows or not listeners:
        return
    written = Written(kind, tuple(rows))
    for listener in listeners:
        try:
            listener(written)
        except Exception:
            _logger.exception("spansift: a write listener failed; the write itself is kept")
