"""Decide, then write: what the store writes for a batch of hits, as a pure stage.

Modules: `stage` (a batch of hits to rows, covered uses and suspensions), `coverage`
(which rows a live approval grant covers) and `owners` (routing rules: who owns a row).
Every driver hands its hits to the store, which decides them with this stage under its
own lock and writes the result in one transaction; nothing here touches the database.
"""

from spansift.decide.owners import OwnerRule, load_owners, router
from spansift.decide.stage import Controls, Decision, decide

__all__ = ["Controls", "Decision", "OwnerRule", "decide", "load_owners", "router"]
