"""spansift: the exception log for AI agents, kept from their OpenTelemetry traces."""

from __future__ import annotations

from spansift.model import Event, ExceptionType, Hit, Match, Severity, Span, SpanKind, StatusCode
from spansift.processor import ExceptionLogProcessor

__version__ = "0.1.0"

__all__ = [
    "Event",
    "ExceptionLogProcessor",
    "ExceptionType",
    "Hit",
    "Match",
    "Severity",
    "Span",
    "SpanKind",
    "StatusCode",
    "__version__",
]
