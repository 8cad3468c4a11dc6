"""Agno as openinference-instrumentation-agno records it.

Agent and team runs are spans `<name>.run` / `<name>.continue_run` (a resume is a new
trace with the same `session.id` and `agno.run.id`) carrying the tools offered in
`agno.tools`; tool spans have no call id and their `output.value` is `str(result)` (a
dict shows as a Python repr). A run that paused for confirmation ends OK with the output
"I have tools to execute, but I need confirmation." (user input and external execution
pause the same way and are no approvals). A pre- or post-hook guardrail turns the run
ERROR with "run status: error"; an input check stops it before any model call. A team
leader delegates with its own `delegate_task_to_member` tool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spansift import attrs as a
from spansift.model import AttrValue, SpanRecord
from spansift.normalize._util import Out, parse_json, result_outcome

SCOPE = "openinference.instrumentation.agno"
_CONFIRMATION = "need confirmation"
_RUN_ERROR = "run status: error"
_DELEGATE = "delegate_task_to_member"
_MASK = "****"
# Private markers for refine(), which sees no raw attributes.
PAUSED = "_agno.paused_for_confirmation"
INPUT_MASKED = "_agno.input_has_mask"  # False: the run's input was recorded, unmasked
USER_MASKED = "_agno.user_message_masked"


def read(out: Out, get: Any, attributes: Mapping[str, Any]) -> None:
    """Agno-specific fields of one span (after the OpenInference reading)."""
    kind = out.get("span.kind")
    if kind == "agent":
        tools = get("agno.tools")
        if isinstance(tools, tuple):
            out["tool.offered"] = tuple(str(t) for t in tools)
        output, given = get(a.OI_OUTPUT_VALUE), get(a.OI_INPUT_VALUE)
        if isinstance(output, str) and _CONFIRMATION in output:
            out[PAUSED] = True
        if isinstance(given, str) and given != "__REDACTED__":
            out[INPUT_MASKED] = _MASK in given
        return
    if kind == "llm":
        for key, value in attributes.items():
            if (
                key.startswith(a.OI_INPUT_MESSAGES_PREFIX)
                and key.endswith(".message.content")
                and isinstance(value, str)
                and _MASK in value
                and get(key.replace(".content", ".role")) == "user"
            ):
                out[USER_MASKED] = True
        return
    if kind != "tool":
        return
    output = get(a.OI_OUTPUT_VALUE)
    if (
        out.get("status") != "error"
        and isinstance(output, str)
        and result_outcome(output) == "error"
    ):
        out["tool.outcome"] = "handled_error"
    if out.get("tool.name") == _DELEGATE:
        out["tool.type"] = "agent"
        args = parse_json(get(a.OI_INPUT_VALUE) or "")
        if isinstance(args, dict) and isinstance(args.get("member_id"), str):
            out["handoff.to"] = args["member_id"]


def refine(records: Sequence[SpanRecord], fields: list[dict[str, AttrValue]]) -> None:
    """Pauses for confirmation, and runs stopped by a guardrail hook."""
    children: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        if record.span.parent_span_id:
            children.setdefault(record.span.parent_span_id, []).append(i)
    for i, record in enumerate(records):
        f = fields[i]
        if record.span.scope != SCOPE or f.get("span.kind") != "agent":
            continue
        below = children.get(record.span.span_id, [])
        models = [c for c in below if fields[c].get("span.kind") == "llm"]
        if f.get(PAUSED) and models:
            _paused(records, fields, i, below, models)
        if f.get("status") == "error" and f.get("error.message") == _RUN_ERROR:
            if not models:
                f["guardrail.name"], f["guardrail.target"] = "pre_hook", "input"
                f["guardrail.result"] = "blocked"
            elif all(fields[c].get("status") != "error" for c in below):
                f["guardrail.name"], f["guardrail.target"] = "post_hook", "output"
                f["guardrail.result"] = "blocked"
        _masked_input(f, [fields[c] for c in models])


def _paused(
    records: Sequence[SpanRecord],
    fields: list[dict[str, AttrValue]],
    run: int,
    below: list[int],
    models: list[int],
) -> None:
    """The calls of the run's last model turn that no tool span ran wait for confirmation."""
    last = max(models, key=lambda c: records[c].span.end_ns)
    names, ids = fields[last].get("tool.proposed"), fields[last].get("tool.proposed_ids")
    if not isinstance(names, tuple) or not isinstance(ids, tuple):
        return
    ran = {fields[c].get("tool.name") for c in below if fields[c].get("span.kind") == "tool"}
    waiting = [(str(n), str(c)) for n, c in zip(names, ids, strict=False) if n not in ran]
    if waiting:
        fields[run]["gate.decision"] = tuple("requested" for _ in waiting)
        fields[run]["gate.tool"] = tuple(n for n, _ in waiting)
        fields[run]["gate.call_id"] = tuple(c for _, c in waiting)


def _masked_input(f: dict[str, AttrValue], models: list[dict[str, AttrValue]]) -> None:
    """A pre-hook that masked the input: the model saw a starred user message the run's own
    input does not have."""
    if f.get(INPUT_MASKED) is False and models and models[0].get(USER_MASKED):
        f["guardrail.name"], f["guardrail.target"] = "pii_masking", "input"
        f["guardrail.result"] = "modified"
