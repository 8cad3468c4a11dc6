"""What a row keeps of the span behind it: bounded, and without prompts or secrets.

Evidence is for a reviewer who must see why a rule fired, not a copy of the trace.
Values are cut to `MAX_VALUE_CHARS` and keys that may hold prompts, model output,
tool arguments or personal data are left out (see `REDACTED_KEYS` and
`REDACTED_PREFIXES`); a rule that needs one of them names it in `evidence_keys`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from spansift.model import AttrValue, Hit, Span

MAX_VALUE_CHARS = 512
MAX_ATTRIBUTES = 64

# Keys that carry prompts, completions, tool payloads or free text from users.
REDACTED_KEYS = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.prompt",
        "gen_ai.completion",
        "input.value",
        "output.value",
        "tool.parameters",
        "pydantic_ai.all_messages",
        "final_result",
        "exception.stacktrace",
    }
)
REDACTED_PREFIXES = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.prompts.",
    "llm.prompt_template.",
    "http.request.header.",
    "http.response.header.",
)


_redacted_cache: dict[str, bool] = {}


def is_redacted(key: str) -> bool:
    """True when `key` may hold a prompt, model output or personal data."""
    found = _redacted_cache.get(key)
    if found is None:
        found = key in REDACTED_KEYS or key.startswith(REDACTED_PREFIXES)
        if len(_redacted_cache) < 65536:  # attribute keys are few; a hostile sender's are not
            _redacted_cache[key] = found
    return found


def bounded(value: AttrValue) -> Any:
    """A JSON-ready copy of `value` with strings cut to `MAX_VALUE_CHARS`."""
    if type(value) is str:
        if len(value) > MAX_VALUE_CHARS:
            return value[:MAX_VALUE_CHARS] + f"...[{len(value) - MAX_VALUE_CHARS} more]"
        return value
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, tuple):
        return [bounded(v) for v in value[:MAX_ATTRIBUTES]]
    if isinstance(value, Mapping):
        return {k: bounded(v) for k, v in list(value.items())[:MAX_ATTRIBUTES]}
    return value


def safe_attributes(
    attributes: Mapping[str, AttrValue], allow: Iterable[str] = ()
) -> dict[str, Any]:
    """Attributes minus redacted keys (unless allowed), values bounded."""
    allowed = frozenset(allow)
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if len(out) >= MAX_ATTRIBUTES:
            break
        if is_redacted(key) and key not in allowed:
            continue
        out[key] = bounded(value)
    return out


def span_evidence(span: Span, allow: Iterable[str] = ()) -> dict[str, Any]:
    """A bounded, redacted description of one span."""
    return {
        "name": bounded(span.name),
        "kind": span.kind.name.lower(),
        "status": span.status.name.lower(),
        "status_message": bounded(span.status_message),
        "start_ns": span.start_ns,
        "end_ns": span.end_ns,
        "parent_span_id": span.parent_span_id,
        "attributes": safe_attributes(span.attributes, allow),
        "events": [
            {
                "name": bounded(e.name),
                "time_ns": e.time_ns,
                "attributes": safe_attributes(e.attributes, allow),
            }
            for e in span.events[:MAX_ATTRIBUTES]
        ],
        "resource": safe_attributes(span.resource, allow),
        "scope": bounded(span.scope),
    }


def span_json(span: Span) -> str:
    """`span_evidence` as compact JSON."""
    return _encode(span_evidence(span))


def hit_evidence(hit: Hit, span_json_text: str | None = None) -> str:
    """The `evidence` JSON of an exception row (`span_json_text`: the span's, if known)."""
    text = span_json(hit.span) if span_json_text is None else span_json_text
    extra = ""
    if hit.context:
        extra += f',"context_spans":{len(hit.context)}'
    if hit.incomplete:
        extra += f',"incomplete":{_encode(hit.incomplete)}'
    return f'{{"span":{text}{extra}}}'


_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode
