"""The sidecar OTLP receiver behind `spansift serve`.

`Receiver(ReceiverConfig(db=...), ruleset).start()` listens for OTLP/HTTP and
OTLP/gRPC, acknowledges a request only after it is fsynced to the spool next
to the database, and turns spooled requests into exception rows on one
worker thread (its pipeline in a judge process with `judges=1`). See
`server.py` for the threading contract.
"""

from __future__ import annotations

from spansift._private import discovery_path
from spansift.receiver._intake import Limits
from spansift.receiver._judge import RuleSource
from spansift.receiver.server import Receiver, ReceiverConfig, StopReport, spool_path

__all__ = [
    "Limits",
    "Receiver",
    "ReceiverConfig",
    "RuleSource",
    "StopReport",
    "discovery_path",
    "spool_path",
]
