"""`SpansiftTracingProcessor`: the OpenAI Agents SDK's own spans, into the exception log.

OTel instrumentations of the Agents SDK drop signals (openinference keeps no
guardrail `triggered` flag; the official one ignores guardrail and handoff spans).
This adapter is a `TracingProcessor` the app registers with
`agents.add_trace_processor(...)`. It sees the SDK's span data (guardrail
`triggered`, handoff `from_agent`/`to_agent`, function errors and rejected
approvals, agent tools, trace `workflow_name`/`group_id`), converts each ended
span into a spansift `Span` with GenAI and spansift-convention attributes, and
hands it to an `ExceptionLogProcessor`, whose queue and worker do the rest.

Threading contract: the SDK calls these methods on the application's thread.
Each does a dictionary update and a conversion, never blocks on rules or I/O and
never raises; `force_flush`/`shutdown` delegate to the processor's deadlines.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from spansift import attrs as a
from spansift.model import AttrValue, Span, SpanKind, StatusCode
from spansift.processor import ExceptionLogProcessor
from spansift.rules import RuleSet
from spansift.store.log import DEFAULT_DB

_logger = logging.getLogger(__name__)
_MISSING = "the OpenAI Agents SDK adapter needs it: pip install 'spansift[frameworks]'"
_MAX_OPEN = 65536  # open traces/spans remembered; a bound against spans that never end


def _require_agents() -> None:
    try:
        import agents  # noqa: F401, PLC0415 - optional dependency, imported on use
    except ImportError as exc:
        raise ImportError(_MISSING) from exc


class SpansiftTracingProcessor:
    """An Agents SDK `TracingProcessor` writing exceptions to spansift's DuckDB log.

    Args:
        db, rules, contracts, **options: as for `ExceptionLogProcessor`, which is
            created here unless `processor` is given (to share one log with OTel spans).
        processor: an existing `ExceptionLogProcessor` to hand converted spans to.
        service_name: the resource `service.name` of the converted spans.
    """

    def __init__(
        self,
        db: str | Path = DEFAULT_DB,
        rules: RuleSet | Sequence[str | Path] | None = None,
        contracts: str | Path | Mapping[str, Any] | None = None,
        *,
        processor: ExceptionLogProcessor | None = None,
        service_name: str | None = None,
        **options: Any,
    ) -> None:
        _require_agents()
        self.processor = processor or ExceptionLogProcessor(db, rules, contracts, **options)
        self._resource: dict[str, AttrValue] = (
            {a.SERVICE_NAME: service_name} if service_name else {}
        )
        self._traces: dict[str, dict[str, AttrValue]] = {}
        self._agents: dict[str, tuple[str | None, str | None]] = {}  # span -> (parent, agent)
        self.errors = 0

    # -- TracingProcessor -------------------------------------------------------

    def on_trace_start(self, trace: Any) -> None:
        try:
            data = trace.export() or {}
            context: dict[str, AttrValue] = {}
            if data.get("workflow_name"):
                context[a.GEN_AI_WORKFLOW] = str(data["workflow_name"])
            if data.get("group_id"):
                context[a.GEN_AI_CONVERSATION] = str(data["group_id"])
            if len(self._traces) < _MAX_OPEN:
                self._traces[str(data.get("id") or trace.trace_id)] = context
        except Exception:
            self.errors += 1

    def on_trace_end(self, trace: Any) -> None:
        self._traces.pop(str(getattr(trace, "trace_id", "")), None)

    def on_span_start(self, span: Any) -> None:
        try:
            data = span.span_data
            agent = None
            if data.type == "agent":
                agent = data.name
            elif data.type == "custom" and isinstance(data.data, Mapping):
                agent = data.data.get("agent_name")
            if len(self._agents) < _MAX_OPEN:
                self._agents[span.span_id] = (span.parent_id, agent)
        except Exception:
            self.errors += 1

    def on_span_end(self, span: Any) -> None:
        try:
            converted = self.convert(span)
            self._agents.pop(span.span_id, None)
            if converted is not None:
                self.processor.submit(converted)
        except Exception:
            self.errors += 1

    def force_flush(self) -> None:
        self.processor.force_flush()

    def shutdown(self) -> None:
        self.processor.shutdown()

    # -- conversion --------------------------------------------------------------

    def _agent_of(self, span_id: str | None) -> str | None:
        seen = 0
        while span_id is not None and seen < 64:
            parent, agent = self._agents.get(span_id, (None, None))
            if agent:
                return agent
            span_id, seen = parent, seen + 1
        return None

    def convert(self, span: Any) -> Span | None:
        """The spansift `Span` for one ended SDK span (None when it cannot be read)."""
        exported = span.export()
        if not exported:
            return None
        data: Mapping[str, Any] = exported.get("span_data") or {}
        kind = str(data.get("type", "custom"))
        attributes: dict[str, AttrValue] = dict(self._traces.get(str(span.trace_id), {}))
        agent = self._agent_of(span.span_id)
        if agent:
            attributes[a.GEN_AI_AGENT_NAME] = agent
        name = _describe(kind, data, attributes)
        error = exported.get("error")
        if kind == "function" and not error and data.get("output") is None:
            # The SDK ends an interrupted call (waiting for approval) with no output and no
            # error: a pending gate, not a tool that ran.
            attributes[a.SPANSIFT_GATE_NAME] = str(data.get("name") or "")
            attributes[a.SPANSIFT_GATE_DECISION] = "pending"
        status, message = StatusCode.OK, ""
        if error:
            status = StatusCode.ERROR
            message = f"{error.get('message')}: {error.get('data')}"
        return Span(
            trace_id=_hex(span.trace_id, 32),
            span_id=_hex(span.span_id, 16),
            parent_span_id=_hex(span.parent_id, 16) if span.parent_id else None,
            name=name,
            kind=SpanKind.INTERNAL,
            start_ns=_ns(exported.get("started_at")),
            end_ns=_ns(exported.get("ended_at")),
            status=status,
            status_message=message,
            attributes=attributes,
            resource=self._resource,
            scope="spansift.agents_sdk",
        )


def _describe(kind: str, data: Mapping[str, Any], out: dict[str, AttrValue]) -> str:
    """Fill `out` with the attributes of one span data type and return the span name."""
    name = str(data.get("name") or kind)
    if kind == "agent":
        out[a.GEN_AI_OPERATION] = "invoke_agent"
        out[a.GEN_AI_AGENT_NAME] = name
        tools = data.get("tools") or []
        out[a.GEN_AI_TOOL_DEFINITIONS] = json.dumps([{"name": t} for t in tools])
        return f"invoke_agent {name}"
    if kind == "function":
        out[a.GEN_AI_OPERATION] = "execute_tool"
        out[a.GEN_AI_TOOL_NAME] = name
        return f"execute_tool {name}"
    if kind == "guardrail":
        out[a.GEN_AI_OPERATION] = "apply_guardrail"
        out[a.SPANSIFT_GUARDRAIL_NAME] = name
        out[a.SPANSIFT_GUARDRAIL_TRIGGERED] = bool(data.get("triggered"))
        return f"guardrail {name}"
    if kind == "handoff":
        target = str(data.get("to_agent") or "")
        out[a.SPANSIFT_HANDOFF_TO] = target
        if data.get("from_agent"):
            out[a.GEN_AI_AGENT_NAME] = str(data["from_agent"])
        return f"handoff to {target}"
    if kind in ("generation", "response"):
        out[a.GEN_AI_OPERATION] = "chat"
        usage = data.get("usage")
        if isinstance(usage, Mapping):
            for key, attr in (
                ("input_tokens", a.GEN_AI_INPUT_TOKENS),
                ("output_tokens", a.GEN_AI_OUTPUT_TOKENS),
            ):
                if isinstance(usage.get(key), int):
                    out[attr] = usage[key]
        return f"chat {data.get('model') or ''}".strip()
    return name


def _hex(value: str, digits: int) -> str:
    """SDK ids ("trace_<32 hex>", "span_<24 hex>") as OTLP hex ids of `digits` digits."""
    text = str(value).split("_", 1)[-1].lower()
    if len(text) >= digits and all(c in "0123456789abcdef" for c in text[:digits]):
        return text[:digits]
    return hashlib.blake2b(str(value).encode(), digest_size=digits // 2).hexdigest()


def _ns(stamp: Any) -> int:
    if not isinstance(stamp, str):
        return 0
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return 0
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
