"""The run model: traces and runs rebuilt as attributed, resolved records (see `model`)."""

from spansift.runs.model import looks_human, resolve

__all__ = ["looks_human", "resolve"]
