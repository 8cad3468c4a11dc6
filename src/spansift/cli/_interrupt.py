"""Ctrl-C in long work: the first one asks the loop to stop at a safe point.

A `KeyboardInterrupt` raised in the middle of a DuckDB transaction or a file
read leaves nothing useful to report. Instead the first SIGINT only sets an
event that the loop checks between chunks; it then writes what it has judged
and the command says what was committed. A second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def stop_on_interrupt() -> Iterator[threading.Event]:
    """An event set by the first SIGINT while the block runs (main thread only)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers can only be set from the main thread
        return
    previous = signal.getsignal(signal.SIGINT)

    def first(_signum: int, _frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, first)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
