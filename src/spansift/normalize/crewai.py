"""CrewAI, under OpenLLMetry (traceloop-sdk) and under OpenInference.

Neither instrumentation records CrewAI's control flow as such; what CrewAI does shows in
fixed texts and in the shape of the tree:
- the model is told "Tool not found", "Tool execution blocked by hook" (the documented
  approval hook said no; read as a refusal by `_util.result_outcome`), "has reached its
  usage limit", "User feedback: ..." (a person
  corrected the task's output), "### Previous attempt failed validation" (a task
  guardrail refused the output), and at `max_iter` "you MUST give your absolute best final
  answer";
- a run stopped by CrewAI raises `ToolExecutionFailedError` ("Tool 'x' failed during", or
  the same call "5 times") or `TimeoutError` ("execution timed out"), or fails its guardrail
  ("Task failed guardrail validation");
- a coworker's agent run nests inside the delegating agent's (OpenLLMetry), or under the
  delegation tool's span (OpenInference); CrewAI's delegation tools are
  `Delegate work to coworker` / `Ask question to coworker` (`delegate_work_to_coworker` on
  the wire);
- OpenInference marks a flow paused for human feedback with `HumanFeedbackPending`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from spansift import attrs as a
from spansift.model import AttrValue, Event, SpanRecord
from spansift.normalize._util import Out, parse_json, set_first
from spansift.normalize._values import canonical_value

Extras = list[tuple[int, str, dict[str, AttrValue]]]  # (anchor record, item, fields)

SCOPE_OLL = "opentelemetry.instrumentation.crewai.instrumentation"
SCOPE_OI = "openinference.instrumentation.crewai"
SCOPES = frozenset({SCOPE_OLL, SCOPE_OI})
# The OpenAI instrumentations CrewAI's model calls go through (OpenLLMetry's, OpenInference's).
MODEL_SCOPES = frozenset(
    {"opentelemetry.instrumentation.openai.v1", "openinference.instrumentation.openai"}
)
# Private markers: what read() saw in content, for refine(), which sees no raw attributes.
FINAL_ANSWER = "_crewai.forced_final_answer"
VALIDATION = "_crewai.failed_validation"
FEEDBACK = "_crewai.feedback_count"
OUTCOME = "_crewai.feedback_outcome"
FAILURES = "_crewai.tool_failures"
_DELEGATION = frozenset({"delegate_work_to_coworker", "ask_question_to_coworker"})
_FINAL_ANSWER = "MUST give your absolute best final answer"
_VALIDATION = "Previous attempt failed validation"
_FEEDBACK = "User feedback:"
_FAILED = ("tool_reported", "exception")
# ToolFailureRecord(tool_name='X', ... reason=<ToolFailureReason.EXCEPTION: 'exception'> ...)
_FAILURE_RECORD = re.compile(
    r"tool_name='(?P<tool>[^']+)'.*?reason=<ToolFailureReason\.\w+: '(?P<reason>\w+)'>", re.S
)
_FAILURE_JSON = re.compile(
    r'"tool_name":\s*"(?P<tool>[^"]+)".{0,400}?"reason":\s*"(?P<reason>\w+)"', re.S
)
_FAILURE_SOURCES = (
    ("crewai.crew.tasks_output", _FAILURE_RECORD),
    (a.OI_OUTPUT_VALUE, _FAILURE_JSON),
)
_RESULT_OF = {"exception": "error", "tool_reported": "error", "unknown_tool": "not_found",
              "usage_limit": "limited"}  # fmt: skip
_OUTCOME_PROMPT = "Based on the following human feedback, determine which outcome"
_TOOL_FAILED = re.compile(r"Tool '(?P<tool>[^']+)' failed during")
_REPEATED = re.compile(r"with the same arguments \d+ times")
_TIMED_OUT = re.compile(r"execution timed out after")
_GUARDRAIL_FAILED = re.compile(r"Task failed guardrail validation")
_FEEDBACK_PENDING = "HumanFeedbackPending"


def tool_key(name: str) -> str:
    """CrewAI's name for a tool on the wire: `Search Docs` is `search_docs`."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def read(out: Out, get: Any, name: str, events: Sequence[Event]) -> None:
    """CrewAI-specific fields of a span of either instrumentation."""
    kind = out.get("span.kind")
    if kind == "agent" and name.endswith("._execute_core"):
        set_first(out, "agent.name", get(a.OI_GRAPH_NODE_ID))
    if kind == "tool":
        tool = out.get("tool.name")
        if isinstance(tool, str) and tool_key(tool) in _DELEGATION:
            out["tool.type"] = "agent"
            args = parse_json(get(a.OI_INPUT_VALUE) or "")
            if isinstance(args, dict) and isinstance(args.get("coworker"), str):
                out["handoff.to"] = args["coworker"]
        output = parse_json(get(a.OI_OUTPUT_VALUE) or "")
        reported = isinstance(output, dict) and output.get("reason") in _FAILED
        if reported and out.get("status") != "error":
            out["tool.outcome"] = "handled_error"  # a ToolFailure returned, not raised
    message = str(out.get("error.message", ""))
    if _TOOL_FAILED.search(message) and not _REPEATED.search(message) and name.endswith(".task"):
        found = _TOOL_FAILED.search(message)
        if found is not None:
            out["span.kind"] = "tool"
            out["tool.name"] = found.group("tool")
            out["tool.outcome"] = "error"
    if _REPEATED.search(message):
        out["limit.exceeded"] = "tool_calls"
    elif _TIMED_OUT.search(message):
        out["limit.exceeded"] = "time"
    if _GUARDRAIL_FAILED.search(message):
        out["guardrail.name"] = "task guardrail"
        out["guardrail.result"] = "blocked"
    failures = _failures_in(get)
    if failures:
        out[FAILURES] = tuple(f"{tool}={outcome}" for tool, outcome in failures.items())
    for event in events:
        if _FEEDBACK_PENDING in str(event.attributes.get(a.EXCEPTION_TYPE, "")):
            out["gate.decision"] = "requested"  # a flow paused for a person; not an error
            out.pop("error.type", None)
            out.pop("error.message", None)
            out["status"] = "ok"


def read_model_call(out: Out, get: Any, attributes: Mapping[str, Any]) -> None:
    """CrewAI's texts in one model call (through an OpenAI instrumentation)."""
    inputs = [str(get(a.GEN_AI_INPUT_MESSAGES) or "")]
    inputs += [str(v) for k, v in attributes.items() if k.startswith(a.OI_INPUT_MESSAGES_PREFIX)]
    text = "\n".join(inputs)
    names = out.get("tool.proposed")
    if isinstance(names, tuple) and any(tool_key(str(n)) in _DELEGATION for n in names):
        out["tool.proposed_types"] = tuple(
            "agent" if tool_key(str(n)) in _DELEGATION else "" for n in names
        )
    if _FINAL_ANSWER in text:
        out[FINAL_ANSWER] = True
    if _VALIDATION in text:
        out[VALIDATION] = True
    if _FEEDBACK in text:
        out[FEEDBACK] = text.count(_FEEDBACK)
    if _OUTCOME_PROMPT in text:
        output = str(get(a.GEN_AI_OUTPUT_MESSAGES) or "") + str(get(a.OI_OUTPUT_VALUE) or "")
        found = re.search(r'"outcome"\s*:\s*"(?P<o>[^"]+)"', output.replace('\\"', '"'))
        decision = canonical_value("gate.decision", found.group("o")) if found else None
        if decision is not None:
            out[OUTCOME] = "answered" if decision == "requested" else decision


def refine(records: Sequence[SpanRecord], fields: list[dict[str, AttrValue]]) -> Extras:
    """CrewAI's texts in the model calls of its runs, its failure records, its delegations.

    Returns a record per failure CrewAI recorded that no tool result shows (content off).
    """
    if not any(r.span.scope in SCOPES for r in records):
        return []
    seen: set[str] = set()
    by_id = {(r.span.trace_id, r.span.span_id): i for i, r in enumerate(records)}
    failures, source = _failures(fields)
    proposed = {
        call: name
        for f in fields
        for call, name in zip(
            _tuple(f.get("tool.proposed_ids")), _tuple(f.get("tool.proposed")), strict=False
        )
    }
    shown: set[str] = set()
    for i in sorted(range(len(records)), key=lambda i: records[i].span.start_ns):
        record, f = records[i], fields[i]
        if f.get("span.kind") == "llm":
            _model_call(f, seen)
            if failures:
                shown |= _failed_results(f, failures, proposed)
        elif f.get("span.kind") == "agent" and record.span.scope == SCOPE_OLL:
            _nested_agent(records, fields, i, by_id)
        elif f.get("tool.type") == "agent" and record.span.scope == SCOPE_OI:
            _delegated(records, fields, i, by_id)
        if f.get("span.kind") == "tool" and tool_key(str(f.get("tool.name", ""))) in failures:
            shown.add(tool_key(str(f["tool.name"])))  # its own span says it failed
    extras: Extras = []
    for tool, outcome in failures.items():
        if tool in shown or source is None:
            continue
        extra: dict[str, AttrValue] = {"span.kind": "tool", "tool.name": tool}
        if outcome == "limited":
            extra = {"span.kind": "other", "limit.exceeded": "tool_calls"}
        else:
            extra["tool.outcome"] = "handled_error" if outcome == "error" else outcome
        extras.append((source, f"crewai_failure:{tool}", extra))
    return extras


def _failures_in(get: Any) -> dict[str, str]:
    """CrewAI's own record of failed calls (`TaskOutput.tool_failures`): tool -> outcome.

    OpenLLMetry keeps it in the repr `crewai.crew.tasks_output`, OpenInference in the task's
    and crew's output JSON; both survive content capture being off.
    """
    out: dict[str, str] = {}
    for key, pattern in _FAILURE_SOURCES:
        text = get(key)
        if not isinstance(text, str) or not ("tool_failures" in text or "ToolFailure" in text):
            continue
        for found in pattern.finditer(text):
            outcome = _RESULT_OF.get(found.group("reason").lower())
            if outcome is not None:
                out[tool_key(found.group("tool"))] = outcome
    return out


def _failures(fields: list[dict[str, AttrValue]]) -> tuple[dict[str, str], int | None]:
    """Every failure read() noted, and the first record noting one."""
    out: dict[str, str] = {}
    source: int | None = None
    for index, f in enumerate(fields):
        for item in _tuple(f.get(FAILURES)):
            tool, _, outcome = item.partition("=")
            out[tool] = outcome
            source = index if source is None else source
    return out, source


def _failed_results(
    f: dict[str, AttrValue], failures: dict[str, str], proposed: dict[str, str]
) -> set[str]:
    """Results of calls CrewAI recorded as failed, as the model was told (its text varies).

    Returns the tools whose failure a result shows."""
    outcomes = f.get("tool.result_outcomes")
    if not isinstance(outcomes, tuple):
        return set()
    ids, names = _tuple(f.get("tool.result_ids")), _tuple(f.get("tool.result_names"))
    changed = list(outcomes)
    shown: set[str] = set()
    for n, outcome in enumerate(outcomes):
        call = ids[n] if n < len(ids) else ""
        key = tool_key((names[n] if n < len(names) else "") or proposed.get(call, ""))
        if key in failures:
            shown.add(key)
            if outcome == "ok":
                changed[n] = failures[key]
    f["tool.result_outcomes"] = tuple(changed)
    return shown


def _tuple(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, tuple) else ()


def _delegated(
    records: Sequence[SpanRecord],
    fields: list[dict[str, AttrValue]],
    index: int,
    by_id: dict[tuple[str, str], int],
) -> None:
    """OpenInference runs the coworker inside the delegation tool's span: what happens there
    is the coworker's doing; the delegation itself is the delegator's."""
    f = fields[index]
    coworker = f.get("handoff.to")
    up = records[index].span.parent_span_id
    for _ in range(10):
        parent = by_id.get((records[index].span.trace_id, up or ""))
        if parent is None:
            break
        name = fields[parent].get("agent.name")
        if isinstance(name, str):
            f.setdefault("handoff.from", name)
            break
        up = records[parent].span.parent_span_id
    if isinstance(coworker, str):
        f["agent.name"] = coworker


def _model_call(f: dict[str, AttrValue], seen: set[str]) -> None:
    """What read_model_call() noted, each once for the run (later calls show it again)."""
    if f.get(FINAL_ANSWER) and FINAL_ANSWER not in seen:
        seen.add(FINAL_ANSWER)
        f["limit.exceeded"] = "iterations"
    if f.get(VALIDATION) and VALIDATION not in seen:
        seen.add(VALIDATION)
        f["guardrail.name"] = "task guardrail"
        f["guardrail.result"] = "blocked"
        f["guardrail.target"] = "output"
    feedback = f.get(FEEDBACK)
    key = f"feedback:{feedback if isinstance(feedback, int) else 0}"
    if isinstance(feedback, int) and key not in seen:
        seen.add(key)  # each correction once
        f["human.decision"] = "edited"
    outcome = f.get(OUTCOME)
    if isinstance(outcome, str):
        f["gate.decision"] = outcome


def _nested_agent(
    records: Sequence[SpanRecord],
    fields: list[dict[str, AttrValue]],
    index: int,
    by_id: dict[tuple[str, str], int],
) -> None:
    """An agent run inside another role's agent run is a delegation to a coworker (a run
    inside its own role's is CrewAI calling the task again after a model error)."""
    record = records[index]
    parent = by_id.get((record.span.trace_id, record.span.parent_span_id or ""))
    if parent is None or fields[parent].get("span.kind") != "agent":
        return
    mine, theirs = fields[index].get("agent.name"), fields[parent].get("agent.name")
    if isinstance(mine, str) and isinstance(theirs, str) and mine != theirs:
        fields[index]["handoff.to"] = mine
        fields[index]["handoff.from"] = theirs
        fields[index]["tool.type"] = "agent"
