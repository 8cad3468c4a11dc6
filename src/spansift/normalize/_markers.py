"""Which spans mark their trace as an agent's: the test that lets ordinary traffic be skipped.

A rule set whose every rule needs an *agent field* (`AGENT_FIELDS`: tool outcomes, gates,
guardrails, handoffs, limits, usage...) can only hit a trace that holds a span from
which the normalizers derive one. Such a span always shows it cheaply:

- its instrumentation scope is one the stack readers know (`_stacks.READERS`);
- it carries a key of a namespace the generic readers read (`gen_ai.`, OpenInference,
  OpenLLMetry, `spansift.`, ...) or a key a contract's `signals:` maps;
- its name is one the name readers parse (`execute_tool X`, `X.tool`, `transfer_to_X`);
- or its status message or an exception event holds a text the message readers react to
  (`frameworks.TEXT_PATTERNS`): then the span is normalized for real and marks its trace
  when an agent field comes out.

`BodyScan` looks for all of these at once in a serialized request, before any span is
built. `tests/test_sift.py` checks both against every recorded span: a span the
normalizers give an agent field is always marked.
"""

from __future__ import annotations

import re
from collections.abc import Collection

import re2

from spansift.normalize import _stacks, crewai, frameworks

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
# The same tokens as bytes, for one look at a whole request body (case-insensitive): a
# body holding none of them, and no text the message readers react to, has no span that
# marks its trace, whatever its status messages and events say.
_KEY_TOKENS = tuple(p.encode() for p in KEY_PREFIXES)  # must start a key (see BodyScan)
_TOKENS = (
    # A scope name is field 1 of its message: tag 0x0a, its length, then the name.
    *(b"\n" + bytes([len(s)]) + s.encode() for s in sorted(SCOPES)),
    b"execute_tool", b"invoke_agent", b"create_agent", b"invoke_workflow", b".tool", b".agent",
    b"transfer_to_", b"handoff", b"guardrail", b"chat", b"text_completion",
    b"generate_content", b"embeddings",
)  # fmt: skip


class ShapeTest:
    """Whether scope, name or keys alone mark a span (see the module docstring).

    Names and keys repeat endlessly in ordinary traffic, so what was found not to mark is
    remembered (bounded): most spans are answered by one set comparison.
    """

    def __init__(self, extra_keys: frozenset[str] = frozenset()) -> None:
        self._extra_keys = extra_keys
        self._plain_keys: set[str] = set()  # keys known not to mark
        self._names: dict[str, bool] = {}

    def __call__(self, scope: str, name: str, keys: Collection[str]) -> bool:
        if scope in SCOPES:
            return True
        marks = self._names.get(name)
        if marks is None:
            marks = _NAME.search(name) is not None
            if len(self._names) < _REMEMBERED:
                self._names[name] = marks
        if marks:
            return True
        plain = self._plain_keys
        if plain.issuperset(keys):
            return False
        for key in keys:
            if key in plain:
                continue
            if key.startswith(KEY_PREFIXES) or key in self._extra_keys:
                return True
            if len(plain) < _REMEMBERED:
                plain.add(key)
        return False


_REMEMBERED = 4096


class BodyScan:
    """One pass of a compiled multi-pattern over a serialized request: may it mark a trace?

    re2 runs the whole set as one automaton in linear time (Python's engine would try
    every alternative at every byte). False means no span of the body can be marked: no
    known scope, no name the name readers parse, no key of a namespace the readers read
    (or of `extra_keys`), and no status message or exception event text the message
    readers react to (`frameworks.TEXT_PATTERNS`). True only means "look span by span".

    A key-prefix token counts only where a key can start: after a byte that is not a
    letter, digit or `_` (`user_agent.original` is not `agent.`); the byte before a key is
    its length, so a key 95 to 122 characters long is missed here (its namespace's
    shorter keys still mark the span).
    """

    def __init__(self, extra_keys: frozenset[str] = frozenset()) -> None:
        keys = (*_KEY_TOKENS, *sorted(k.encode() for k in extra_keys))
        alternatives = [
            "[^a-z0-9_](?:" + "|".join(_literal(k) for k in keys) + ")",
            *(_literal(t) for t in _TOKENS),
            *(f"(?:{p.pattern})" for p in frameworks.TEXT_PATTERNS),
        ]
        options = re2.Options()
        options.encoding = re2.Options.Encoding.LATIN1  # bytes are bytes, not UTF-8
        options.case_sensitive = False
        options.dot_nl = True
        options.never_capture = True
        options.log_errors = False
        self._search = re2.compile("|".join(alternatives).encode("latin-1"), options).search

    def may_mark(self, body: bytes) -> bool:
        return self._search(body) is not None


def _literal(token: bytes) -> str:
    """`token` as an re2 literal: letters and digits as they are, other bytes as `\\xHH`."""
    return "".join(chr(b) if chr(b).isalnum() and b < 128 else f"\\x{b:02x}" for b in token)
