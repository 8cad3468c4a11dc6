"""Which spans mark their trace as an agent's: the test that lets ordinary traffic be skipped.

A rule set whose every rule needs an *agent field* (`AGENT_FIELDS`: tool outcomes, gates,
guardrails, handoffs, limits, usage...) can only hit a trace that holds a span from
which the normalizers derive one. Such a span always shows it cheaply:

- its instrumentation scope is one the stack readers know (`_stacks.READERS`);
- it carries a key of a namespace the generic readers read (`gen_ai.`, OpenInference,
  OpenLLMetry, `spansift.`, ...) or a key a contract's `signals:` maps;
- its name is one the name readers parse (`execute_tool X`, `X.tool`, `transfer_to_X`);
- or it has a status message or events, the only content generic readers look at: then
  the span is normalized for real and marks its trace when an agent field comes out.

`tests/test_sift.py` checks the first three against every recorded span: a span the
normalizers give an agent field is always marked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from spansift.normalize import _stacks, crewai

# Canonical fields only agent instrumentation yields (or, for status messages and
# events, only agent text), which every built-in rule needs one of.
AGENT_FIELDS = frozenset(
    {
        "agent.name", "tool.name", "tool.outcome", "tool.unknown", "tool.call_id",
        "tool.proposed", "gate.name", "gate.decision", "evaluation.name", "guardrail.name",
        "guardrail.result", "policy.decision", "handoff.to", "handoff.human", "human.decision",
        "limit.exceeded", "usage.input_tokens", "usage.output_tokens", "usage.total_tokens",
    }
)  # fmt: skip

KEY_PREFIXES = (
    "gen_ai.", "llm.", "openinference.", "traceloop.", "spansift.", "pydantic_ai.", "agt.",
    "graph.node.", "input.value", "output.value", "tool.", "agent.", "annotations.", "ai.",
    "logfire.", "gcp.vertex.agent.", "crewai.", "smolagents.", "agno.", "strands.",
    "langgraph.", "langchain.", "lc.", "mcp.",
)  # fmt: skip
SCOPES = frozenset(_stacks.READERS) | crewai.MODEL_SCOPES
# Names the name readers parse, and the GenAI operations' span names.
_NAME = re.compile(
    r"execute_tool|invoke_agent|create_agent|invoke_workflow|\.tool$|\.agent$|transfer_to_"
    r"|handoff|guardrail|(?:^|\s)(?:chat|text_completion|generate_content|embeddings)(?:\s|$)",
    re.IGNORECASE,
)
# The same tokens as bytes, for a look at a whole request body (lower-cased, so upper-case
# spellings match too): a body without any of them has no marking key, scope or name
# (text in status messages and events is still checked span by span).
_KEY_TOKENS = tuple(p.encode() for p in KEY_PREFIXES)  # must start a key: see _starts_key
_TOKENS = (
    # A scope name is field 1 of its message: tag 0x0a, its length, then the name.
    *(b"\n" + bytes([len(s)]) + s.encode() for s in sorted(SCOPES)),
    b"execute_tool", b"invoke_agent", b"create_agent", b"invoke_workflow", b".tool", b".agent",
    b"transfer_to_", b"handoff", b"guardrail", b"chat", b"text_completion",
    b"generate_content", b"embeddings",
)  # fmt: skip
_KEY_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_")


def marks_by_shape(scope: str, name: str, keys: Iterable[str], extra_keys: frozenset[str]) -> bool:
    """Whether scope, name or keys alone mark the span (see the module docstring)."""
    if scope in SCOPES or _NAME.search(name):
        return True
    return any(key.startswith(KEY_PREFIXES) or key in extra_keys for key in keys)


def body_may_mark(body: bytes) -> bool:
    """False when no span of this serialized request can be marked by its shape.

    One `find` per token over the lower-cased body (C speed; no regex alternation, which
    Python's engine tries at every byte). A key-prefix token counts only where a key can
    start: not after a letter, digit or `_` (`user_agent.original` is not `agent.`). A
    key whose length byte is itself such a character (95 to 122 characters long) is
    missed here; its namespace's shorter keys still mark the span.
    """
    lowered = body.lower()
    if any(token in lowered for token in _TOKENS):
        return True
    return any(_starts_key(lowered, token) for token in _KEY_TOKENS)


def _starts_key(body: bytes, token: bytes) -> bool:
    at = body.find(token)
    while at != -1:
        if at == 0 or body[at - 1] not in _KEY_CHARS:
            return True
        at = body.find(token, at + 1)
    return False
