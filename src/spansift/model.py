"""The domain: spans as spansift sees them, and the hits rules produce.

Every value here is frozen. A `Span` is built once by a source (SDK, OTLP
protobuf, OTLP/JSON) and never changes; the same span arriving in any of the
three forms gives an equal `Span`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import TypeAlias

# An attribute value as OTLP carries it: scalars, homogeneous arrays (tuples),
# and, from OTLP only, nested key/value lists (mappings) and bytes.
AttrValue: TypeAlias = (
    "str | bool | int | float | bytes | tuple[AttrValue, ...] | Mapping[str, AttrValue]"
)
Attributes = Mapping[str, AttrValue]

# What rules see: canonical fields plus every raw attribute, by key.
Fields = Mapping[str, AttrValue]


class SpanKind(IntEnum):
    """OTLP's span kind, numbered as in the protocol (the SDK's enum is one lower)."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(IntEnum):
    """OTLP's status code; the SDK uses the same numbers."""

    UNSET = 0
    OK = 1
    ERROR = 2


class Severity(str, Enum):
    """How urgent an exception is, lowest first."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


# Weights per severity, doubling upward: how the review ranks patterns and what a
# webhook's `min_severity` compares against.
SEVERITY_POINTS = {"info": 0, "low": 1, "medium": 2, "high": 4, "critical": 8}


class ExceptionType(str, Enum):
    """The control boundaries spansift reports on."""

    WRONG_TOOL = "wrong_tool"
    UNKNOWN_TOOL = "unknown_tool"
    TOOL_ERROR = "tool_error"
    APPROVAL_DENIED = "approval_denied"
    APPROVAL_ESCALATED = "approval_escalated"
    APPROVAL_BYPASSED = "approval_bypassed"
    HUMAN_OVERRIDE = "human_override"
    GUARDRAIL_TRIPPED = "guardrail_tripped"
    POLICY_VIOLATION = "policy_violation"
    HANDOFF_TO_HUMAN = "handoff_to_human"
    ROLLBACK = "rollback"
    APPROVAL_PENDING = "approval_pending"
    RUNAWAY_LOOP = "runaway_loop"
    COST_CAP = "cost_cap"


class FollowUp(str, Enum):
    """What a team decides to do so that an exception does not repeat."""

    EVAL_CASE = "eval_case"
    GRADER_RULE = "grader_rule"
    SOURCE_POLICY = "source_policy"
    PERMISSION_CHANGE = "permission_change"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Event:
    """A timestamped annotation on a span (exceptions, evaluation results, ...)."""

    name: str
    time_ns: int
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Span:
    """One finished span. Ids are lowercase hex; times are Unix nanoseconds."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: SpanKind
    start_ns: int
    end_ns: int
    status: StatusCode
    status_message: str = ""
    attributes: Attributes = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    resource: Attributes = field(default_factory=dict)
    scope: str = ""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a piece of configuration or input came from: file, 1-based line and column."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line and self.col:
            return f"{self.path}:{self.line}:{self.col}"
        if self.line:
            return f"{self.path}:{self.line}"
        return self.path


@dataclass(frozen=True, slots=True)
class Match:
    """What a rule concluded about one span (or, later, one trace): the row's content."""

    rule_id: str
    exception_type: str
    severity: Severity
    boundary: str
    summary: str
    owner: str | None = None
    follow_up: str | None = None
    contain: str | None = None  # agent or workflow to suspend when this is written
    controls: tuple[str, ...] = ()  # published controls the row evidences (`framework:id`)


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """A span with its canonical fields, as rules see it.

    The run model also makes records for what has no span of its own (a tool call seen
    only in the model's messages, a decision read from a resumed run's input): they are
    anchored on the span that shows them and told apart by `item` (empty for the span's
    own record).
    """

    span: Span
    fields: Fields
    item: str = ""


@dataclass(frozen=True, slots=True)
class Hit:
    """A match together with the span it is about: everything the store writes.

    `context` holds the other spans of the trace (or run) known when the hit was
    made; they are kept as evidence beside the offending span.
    """

    match: Match
    span: Span
    fields: Fields
    context: tuple[Span, ...] = ()
    # Set when the evidence is known to be incomplete (an evicted trace, dropped spans).
    incomplete: str | None = None
    # The record's item within its span (see `SpanRecord.item`); part of the row's id.
    item: str = ""


@dataclass(frozen=True, slots=True)
class Signal:
    """One line of a contracts file's `signals:`: an app's attribute read as a canonical field.

    `values` maps the app's words (lower case) to canonical values; without it the
    usual synonyms apply (`rejected` is a denied gate, `flagged` a warned guardrail).
    """

    field: str
    key: str
    values: Mapping[str, str] | None = None
