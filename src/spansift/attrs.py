"""Attribute keys spansift reads, in one place.

The OTel GenAI conventions are still incubating and OpenInference evolves too;
when a key is renamed upstream, this file is where the new spelling goes.
"""

from __future__ import annotations

# OpenTelemetry GenAI semantic conventions.
GEN_AI_OPERATION = "gen_ai.operation.name"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_AGENT_ID = "gen_ai.agent.id"
GEN_AI_WORKFLOW = "gen_ai.workflow.name"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"
GEN_AI_TOOL_DEFINITIONS = "gen_ai.tool.definitions"
GEN_AI_CONVERSATION = "gen_ai.conversation.id"
GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_PROMPT_TOKENS_OLD = "gen_ai.usage.prompt_tokens"
GEN_AI_COMPLETION_TOKENS_OLD = "gen_ai.usage.completion_tokens"
GEN_AI_PROVIDER = "gen_ai.provider.name"
GEN_AI_SYSTEM_OLD = "gen_ai.system"  # before gen_ai.provider.name
GEN_AI_AGENT_CALL_ID = "gen_ai.agent.call.id"  # pydantic-ai's run id
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_GUARDRAIL_NAME = "gen_ai.guardrail.name"
GEN_AI_GUARDRAIL_VERDICT = "gen_ai.guardrail.verdict.type"
GEN_AI_GUARDRAIL_ACTION = "gen_ai.guardrail.action.type"
GEN_AI_EVALUATION_EVENT = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_LABEL = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_SCORE = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"
ERROR_TYPE = "error.type"

# Generic OpenTelemetry.
SERVICE_NAME = "service.name"
EXCEPTION_EVENT = "exception"
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
ENDUSER_ID = "enduser.id"

# OpenInference.
OI_SPAN_KIND = "openinference.span.kind"
OI_TOOL_NAME = "tool.name"
OI_TOOL_ID = "tool.id"
OI_AGENT_NAME = "agent.name"
OI_SESSION_ID = "session.id"
OI_USER_ID = "user.id"
OI_GRAPH_NODE_NAME = "graph.node.name"
OI_GRAPH_NODE_ID = "graph.node.id"
OI_PROMPT_TOKENS = "llm.token_count.prompt"
OI_COMPLETION_TOKENS = "llm.token_count.completion"
OI_TOTAL_TOKENS = "llm.token_count.total"
OI_GRAPH_NODE_PARENT = "graph.node.parent_id"
OI_METADATA = "metadata"  # JSON; LangChain puts langgraph_node and thread_id here
OI_TOOLS_PREFIX = "llm.tools."
OI_TOOL_JSON_SCHEMA_SUFFIX = ".tool.json_schema"
OI_OUTPUT_MESSAGES_PREFIX = "llm.output_messages."
OI_INPUT_VALUE = "input.value"
OI_OUTPUT_VALUE = "output.value"
OI_INPUT_MESSAGES_PREFIX = "llm.input_messages."
OI_ANNOTATIONS_PREFIX = "annotations."

# pydantic-ai's own instrumentation.
PYDANTIC_AI_DEFERRAL = "pydantic_ai.tool.deferral.name"  # ApprovalRequired | CallDeferred
PYDANTIC_AI_FAILURE_STAGE = "pydantic_ai.tool.failure_stage"

# Microsoft Agent Governance Toolkit.
AGT_POLICY_ACTION = "agt.policy.action"
AGT_POLICY_RULE = "agt.policy.rule"
AGT_APPROVAL_OUTCOME = "agt.approval.outcome"
AGT_APPROVAL_APPROVER = "agt.approval.approver"
GEN_AI_GUARDRAIL_POLICY = "gen_ai.guardrail.policy.id"

# Traceloop / OpenLLMetry.
TRACELOOP_SPAN_KIND = "traceloop.span.kind"  # workflow | task | agent | tool
TRACELOOP_ENTITY_NAME = "traceloop.entity.name"
TRACELOOP_WORKFLOW = "traceloop.workflow.name"
TRACELOOP_SESSION = "traceloop.association.properties.session_id"
TRACELOOP_CONVERSATION = "traceloop.association.properties.conversation_id"
TRACELOOP_USER = "traceloop.association.properties.user_id"
LLM_TOTAL_TOKENS_OLD = "llm.usage.total_tokens"

# spansift's own convention, for what no standard covers yet.
SPANSIFT_WORKFLOW = "spansift.workflow"
SPANSIFT_STEP = "spansift.step"
SPANSIFT_GATE_NAME = "spansift.gate.name"
SPANSIFT_GATE_DECISION = (
    "spansift.gate.decision"  # requested|approved|denied|edited|escalated|expired
)
SPANSIFT_GATE_APPROVER = "spansift.gate.approver"
SPANSIFT_GATE_JUSTIFICATION = "spansift.gate.justification"
SPANSIFT_GATE_SCOPE = "spansift.gate.scope"
SPANSIFT_GATE_TOOL = "spansift.gate.tool"
SPANSIFT_GATE_CALL_ID = "spansift.gate.call_id"
SPANSIFT_GATE_REASON = "spansift.gate.reason"
SPANSIFT_GATE_EXPIRES_AT = "spansift.gate.expires_at"  # ISO 8601
SPANSIFT_GATE_EVENT = "spansift.gate.decision"  # event name: a decision recorded on a span
SPANSIFT_HUMAN_DECISION = "spansift.human.decision"  # accepted | rejected | edited
SPANSIFT_HUMAN_ACTOR = "spansift.human.actor"
SPANSIFT_HUMAN_REASON = "spansift.human.reason"
SPANSIFT_HUMAN_EVENT = "spansift.human.decision"  # event name: a decision recorded on a span
SPANSIFT_GUARDRAIL_NAME = "spansift.guardrail.name"
SPANSIFT_GUARDRAIL_TRIGGERED = "spansift.guardrail.triggered"
SPANSIFT_HANDOFF_TO = "spansift.handoff.to"

# Raw keys normalization reads (`spansift show` lists them first); keys starting with a
# prefix here count too.
NORMALIZE_KEYS = frozenset(
    value
    for name, value in dict(globals()).items()
    if name.isupper()
    and isinstance(value, str)
    and not name.endswith(("_EVENT", "_PREFIX", "_SUFFIX"))
    and not name.startswith(("EXCEPTION_", "GEN_AI_EVALUATION_"))
)
NORMALIZE_PREFIXES = (
    OI_TOOLS_PREFIX,
    OI_OUTPUT_MESSAGES_PREFIX,
    OI_INPUT_MESSAGES_PREFIX,
    OI_ANNOTATIONS_PREFIX,
)

# Canonical fields: the names rules use whatever framework produced the span.
# docs/architecture.md says what each means.
CANONICAL_FIELDS = (
    "span.name",
    "span.kind",
    "span.duration_ms",
    "span.events",
    "status",
    "error.type",
    "error.message",
    "agent.name",
    "agent.id",
    "workflow",
    "step",
    "tool.name",
    "tool.call_id",
    "tool.type",
    "tool.outcome",
    "tool.error",
    "tool.offered",
    "tool.proposed",
    "tool.proposed_ids",
    "tool.proposed_args",
    "tool.proposed_types",
    "tool.args_digest",
    "tool.approval",
    "tool.unknown",
    "tool.result_ids",
    "tool.result_names",
    "tool.result_outcomes",
    "usage.input_tokens",
    "usage.output_tokens",
    "usage.total_tokens",
    "usage.aggregate",
    "guardrail.name",
    "guardrail.target",
    "guardrail.result",
    "guardrail.triggered",
    "policy.name",
    "policy.decision",
    "gate.name",
    "gate.tool",
    "gate.call_id",
    "gate.id",
    "gate.decision",
    "gate.approver",
    "gate.justification",
    "gate.reason",
    "gate.scope",
    "gate.expires_at",
    "human.decision",
    "human.actor",
    "human.reason",
    "handoff.from",
    "handoff.to",
    "handoff.human",
    "evaluation.name",
    "evaluation.label",
    "evaluation.score",
    "evaluation.explanation",
    "limit.exceeded",
    "limit.value",
    "run.id",
    "user.id",
    "session.id",
    "service.name",
)

# Canonical fields whose values form a closed set: a rule comparing one with anything else
# can never match, and `rules check` says so.
CLOSED_VALUES: dict[str, frozenset[str]] = {
    "span.kind": frozenset(
        {"agent", "llm", "tool", "guardrail", "gate", "handoff", "human", "other"}
    ),
    "status": frozenset({"ok", "error", "unset"}),
    "tool.type": frozenset({"function", "mcp", "handoff", "agent", "builtin"}),
    "tool.outcome": frozenset({"ok", "error", "handled_error", "not_found", "denied", "pending"}),
    "tool.result_outcomes": frozenset({"ok", "error", "not_found", "denied", "blocked", "limited"}),
    "tool.approval": frozenset({"approved", "none", "unknown"}),
    "guardrail.result": frozenset({"passed", "blocked", "modified", "warned"}),
    "policy.decision": frozenset({"allow", "deny"}),
    "gate.decision": frozenset(
        {"requested", "approved", "denied", "edited", "escalated", "expired", "answered", "pending"}
    ),
    "human.decision": frozenset({"accepted", "rejected", "edited"}),
    "limit.exceeded": frozenset(
        {"turns", "requests", "steps", "iterations", "tool_calls", "tokens", "cost", "time"}
    ),
}
