"""spansift: the exception log for AI agents, kept from their OpenTelemetry traces."""

from __future__ import annotations

from spansift.agents_sdk import SpansiftTracingProcessor
from spansift.conventions import ApprovalGate, approval_gate, record_human_decision
from spansift.model import Event, ExceptionType, Hit, Match, Severity, Span, SpanKind, StatusCode
from spansift.processor import ExceptionLogProcessor

__version__ = "0.1.0"

__all__ = [
    "ApprovalGate",
    "Event",
    "ExceptionLogProcessor",
    "ExceptionType",
    "Hit",
    "Match",
    "Severity",
    "Span",
    "SpanKind",
    "SpansiftTracingProcessor",
    "StatusCode",
    "__version__",
    "approval_gate",
    "record_human_decision",
]
