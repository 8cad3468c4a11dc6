"""The rule language as typed, frozen data: what the loader builds and the compiler reads.

Nothing here evaluates anything. A condition is a small tree: `AllOf`, `AnyOf`,
`NotOf`, `MacroRef` and leaf `FieldTest`s; references to lists and macros are
kept by name and resolved by the compiler, so files may be loaded in any order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from spansift.model import AttrValue, ExceptionType, FollowUp, Origin, Severity
from spansift.rules.contracts import Contracts

# A literal value in a rule: what YAML scalars become.
Scalar = str | bool | int | float


@dataclass(frozen=True, slots=True)
class FieldTest:
    """One modifier applied to one field, e.g. `tool.name: {not_in_field: tool.offered}`."""

    field: str
    op: str
    value: Scalar | tuple[Scalar, ...] | None
    origin: Origin
    ignore_case: bool = False
    list_name: str | None = None  # `in: some_list` refers to a named list
    other_field: str | None = None  # `*_field` modifiers compare with another field


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every part must hold (a YAML mapping, or `all:`)."""

    parts: tuple[Condition, ...]
    origin: Origin


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one part must hold (`any:`)."""

    parts: tuple[Condition, ...]
    origin: Origin


@dataclass(frozen=True, slots=True)
class NotOf:
    """The part must not hold (`not:`)."""

    part: Condition
    origin: Origin


@dataclass(frozen=True, slots=True)
class MacroRef:
    """A named condition defined by a `macro:` item."""

    name: str
    origin: Origin


Condition = FieldTest | AllOf | AnyOf | NotOf | MacroRef


@dataclass(frozen=True, slots=True)
class ExceptionSpec:
    """A named case a rule must not fire on (Falco's structured exceptions)."""

    name: str
    when: Condition
    origin: Origin


@dataclass(frozen=True, slots=True)
class TestSpan:
    """The span of an inline rule test: a few attributes plus name, status and events."""

    name: str
    status: str
    status_message: str
    attributes: Mapping[str, AttrValue]
    events: tuple[tuple[str, Mapping[str, AttrValue]], ...]
    # In a multi-span case (`spans:`): this span's label, its parent's label, its trace's label.
    label: str = ""
    parent: str = ""
    trace: str = "t1"


@dataclass(frozen=True, slots=True)
class CaseSpec:
    """One rule test: a span (inline or from an OTLP JSON fixture) and whether it must hit."""

    hit: bool
    origin: Origin
    span: TestSpan | None = None
    fixture: str | None = None  # resolved path of an OTLP JSON file
    contracts: Contracts | None = None
    spans: tuple[TestSpan, ...] = ()  # a whole trace (or run), in start order


@dataclass(frozen=True, slots=True)
class Limit:
    """A threshold: a fixed number, or a contract field (`gt_field: contract.budget...`)."""

    op: str  # gt or gte
    number: float | None = None
    field: str | None = None


@dataclass(frozen=True, slots=True)
class CountSpec:
    """`count:` — spans passing `when`, per group of `by` fields, past a limit."""

    limit: Limit
    by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SumSpec:
    """`sum:` — a numeric field summed over spans passing `when` (innermost spans only)."""

    field: str
    limit: Limit


@dataclass(frozen=True, slots=True)
class WithoutSpec:
    """`without:` — a span passing `when` with no other span passing this `when` that
    has the same value (`match: {its field: other field or [fields]}`), optionally
    ended `before` it. When its field holds several values, each needs its own match."""

    when: Condition
    match: tuple[tuple[str, tuple[str, ...]], ...]  # my field -> their fields (any may match)
    before: bool = False


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule as written: `scope` span (per span), trace or run (over many spans)."""

    id: str
    exception: ExceptionType
    severity: Severity
    boundary: str
    description: str
    summary: str
    when: Condition
    origin: Origin
    owner: str | None = None
    follow_up: FollowUp | None = None
    tags: tuple[str, ...] = ()
    enabled: bool = True
    scope: str = "span"
    exceptions: tuple[ExceptionSpec, ...] = ()
    tests: tuple[CaseSpec, ...] = ()
    count: CountSpec | None = None
    sum: SumSpec | None = None
    without: WithoutSpec | None = None
    contain: str | None = None  # agent or workflow: suspend it when the rule fires
    fingerprint: tuple[str, ...] = ()  # fields grouping its rows into patterns; () = default
    controls: tuple[str, ...] = ()  # published controls its rows evidence (`framework:id`)


@dataclass(frozen=True, slots=True)
class ListSpec:
    """A named list of values, used by `in:` / `not_in:`."""

    name: str
    values: tuple[Scalar, ...]
    origin: Origin


@dataclass(frozen=True, slots=True)
class MacroSpec:
    """A named condition, used as `macro: NAME` inside any condition."""

    name: str
    when: Condition
    origin: Origin


@dataclass(frozen=True, slots=True)
class OverrideSpec:
    """Changes to a rule defined elsewhere, by id; `None` leaves a setting as it is."""

    rule_id: str
    origin: Origin
    severity: Severity | None = None
    owner: str | None = None
    follow_up: FollowUp | None = None
    enabled: bool | None = None
    exceptions: tuple[ExceptionSpec, ...] = ()
    controls: tuple[str, ...] = ()  # added to the rule's own


@dataclass(frozen=True, slots=True)
class Pack:
    """Everything read from a set of rule files, in load order."""

    rules: tuple[RuleSpec, ...] = ()
    lists: tuple[ListSpec, ...] = ()
    macros: tuple[MacroSpec, ...] = ()
    overrides: tuple[OverrideSpec, ...] = ()
    # Rules left out for problems: their id (if readable) and the conditions that parsed,
    # which the compiler still checks so every problem is reported in one pass.
    unloaded: tuple[tuple[str | None, tuple[Condition, ...]], ...] = ()
