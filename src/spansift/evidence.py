"""What a row keeps of the span behind it: bounded, and without prompts or secrets.

Evidence is for a reviewer who must see why a rule fired, not a copy of the trace.
Values are cut to `MAX_VALUE_CHARS`; keys that may hold prompts, model output,
tool arguments, credentials or personal data are left out (`REDACTED_KEYS`,
`REDACTED_PREFIXES`, and any key whose last part names a credential); and what is
kept is scrubbed by pattern: credentials in URLs, `key=value` secrets, well-known
token shapes, e-mail addresses and card numbers become `[REDACTED:kind]`. A rule
that needs a key names it in `evidence_keys`.

The policy is process-wide: `configure_redaction` (from the `redaction:` section of
spansift.yaml for `serve` and `ingest`, or called by an application before it adds
the processor) adds keys and prefixes, or turns pattern redaction off. Keys of
spansift's own convention (`spansift.*`: approvers, actors) are never pattern-scrubbed:
naming who decided is the point of recording a decision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from spansift.errors import SpansiftError
from spansift.model import AttrValue, Hit, Span

MAX_VALUE_CHARS = 512
MAX_ATTRIBUTES = 64

# Keys that carry prompts, completions, tool payloads, queries or free text from users.
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
        "traceloop.entity.input",
        "traceloop.entity.output",
        "ai.prompt",
        "ai.response.text",
        "ai.response.object",
        "ai.response.toolCalls",
        "ai.toolCall.args",
        "ai.toolCall.result",
        "db.statement",
        "db.query.text",
        "user.email",
        "enduser.id",
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
    "ai.prompt.",
    "traceloop.entity.input.",
    "traceloop.entity.output.",
)
# A key whose last dotted part is one of these holds a credential, whatever its prefix.
_CREDENTIAL_NAMES = frozenset(
    {
        "api_key", "apikey", "api-key", "password", "passwd", "secret", "client_secret",
        "token", "access_token", "refresh_token", "id_token", "authorization", "cookie",
        "set-cookie", "private_key", "session_token",
    }
)  # fmt: skip
_OWN_PREFIX = "spansift."

# Each pattern runs only on values that contain its cue, found with plain substring tests
# (C speed); most attribute values contain none, and running every pattern on every value
# cost 16 times the rest of building the evidence.
_URL_CREDENTIALS = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]{0,20}://)[^/\s:@]{1,256}:[^/\s@]{1,256}@")
_KEY_VALUE = re.compile(
    r"(?i)\b(api[_-]?key|apikey|access[_-]?token|refresh[_-]?token|token|secret|"
    r"client[_-]?secret|password|passwd|pwd|authorization|auth)(\s{0,3}[:=]\s{0,3}[\"']?)"
    r"(?:bearer\s+)?[^\s\"'&,;]{4,}"
)
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{8,}=*")
_TOKEN = re.compile(
    r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|"
    r"xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|"
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+\b")
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
_FOUR_DIGITS = re.compile(r"\d\d\d\d")  # every card number the pattern takes has such a run


@dataclass(frozen=True, slots=True)
class RedactionPolicy:
    """What evidence leaves out: keys, key prefixes, and whether values are scrubbed."""

    keys: frozenset[str] = REDACTED_KEYS
    prefixes: tuple[str, ...] = REDACTED_PREFIXES
    patterns: bool = True

    def hides(self, key: str) -> bool:
        if key in self.keys or key.startswith(self.prefixes):
            return True
        return key.rsplit(".", 1)[-1].lower() in _CREDENTIAL_NAMES


_active = [RedactionPolicy()]  # the process-wide policy, replaced by `configure_redaction`
_redacted_cache: dict[str, bool] = {}
# What evidence does with a value under each key: drop it, keep it as sent (spansift's own
# keys), or scrub it. Cached per key like `_redacted_cache`.
_DROP, _KEEP, _SCRUB = 0, 1, 2
_key_modes: dict[str, int] = {}
# Scrubbed values by value: agents repeat most values (models, agents, tools, descriptions)
# span after span. Emptied when full, so a stream of distinct values costs one insert each.
_scrubbed: dict[str, str] = {}
_SCRUBBED_MAX = 4096
_CACHED_CHARS = MAX_VALUE_CHARS + 32  # a bounded value (longer text is scrubbed uncached)


def configure_redaction(
    keys: Iterable[str] = (), prefixes: Iterable[str] = (), *, patterns: bool = True
) -> RedactionPolicy:
    """Add keys and prefixes to the built-in lists (process-wide); returns the policy."""
    policy = RedactionPolicy(
        REDACTED_KEYS | frozenset(keys), (*REDACTED_PREFIXES, *prefixes), patterns
    )
    _active[0] = policy
    _redacted_cache.clear()
    _key_modes.clear()
    _scrubbed.clear()
    return policy


def active_redaction() -> RedactionPolicy:
    """The policy in force in this process (to hand to another process that holds spans)."""
    return _active[0]


def redaction_from(doc: object, where: str) -> RedactionPolicy:
    """Configure from a parsed `redaction:` section (`keys`, `prefixes`, `patterns`)."""
    if doc is None:
        return configure_redaction()
    if not isinstance(doc, Mapping) or set(doc) - {"keys", "prefixes", "patterns"}:
        msg = f"{where}: 'redaction' takes keys: [...], prefixes: [...] and patterns: true|false"
        raise SpansiftError(msg)
    lists = {}
    for name in ("keys", "prefixes"):
        value = doc.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            msg = f"{where}: redaction.{name} must be a list of attribute keys"
            raise SpansiftError(msg)
        lists[name] = value
    patterns = doc.get("patterns", True)
    if not isinstance(patterns, bool):
        msg = f"{where}: redaction.patterns must be true or false"
        raise SpansiftError(msg)
    return configure_redaction(lists["keys"], lists["prefixes"], patterns=patterns)


def is_redacted(key: str) -> bool:
    """True when `key` may hold a prompt, model output, a credential or personal data."""
    found = _redacted_cache.get(key)
    if found is None:
        found = _active[0].hides(key)
        if len(_redacted_cache) < 65536:  # attribute keys are few; a hostile sender's are not
            _redacted_cache[key] = found
    return found


def scrub(text: str) -> str:
    """`text` with credentials, secrets, e-mail addresses and card numbers replaced."""
    if not _active[0].patterns or len(text) < 6:
        return text
    if len(text) > _CACHED_CHARS:
        return _scrub(text)
    found = _scrubbed.get(text)
    if found is None:
        found = _scrub(text)
        if len(_scrubbed) >= _SCRUBBED_MAX:
            _scrubbed.clear()
        _scrubbed[text] = found
    return found


def _scrub(text: str) -> str:
    """`scrub` without the cache: each pattern runs only on text holding its cue."""
    if "@" in text:
        text = _URL_CREDENTIALS.sub(r"\1[REDACTED:credentials]@", text)
    lower = text.lower()
    if (
        "key" in lower or "token" in lower or "secret" in lower or "pass" in lower
        or "pwd" in lower or "auth" in lower
    ):  # fmt: skip
        text = _KEY_VALUE.sub(r"\1\2[REDACTED:secret]", text)
    if "bearer" in lower:
        text = _BEARER.sub("Bearer [REDACTED:secret]", text)
    if (
        "sk-" in text or "AKIA" in text or "gh" in text or "xox" in text or "AIza" in text
        or "eyJ" in text
    ):  # fmt: skip
        text = _TOKEN.sub("[REDACTED:secret]", text)
    if "@" in text:
        text = _EMAIL.sub("[REDACTED:email]", text)
    if _FOUR_DIGITS.search(text):
        text = _CARD.sub(_card, text)
    return text


def _card(match: re.Match[str]) -> str:
    """A Luhn-valid 13-19 digit number is a card number; other digit runs stay."""
    digits = [int(c) for c in match.group() if c.isdigit()]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if index % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return "[REDACTED:card]" if total % 10 == 0 else match.group()


def bounded(value: AttrValue, *, scrubbed: bool = True) -> Any:
    """A JSON-ready copy of `value`: strings cut to `MAX_VALUE_CHARS` and scrubbed."""
    if type(value) is str:
        if len(value) > MAX_VALUE_CHARS:
            value = value[:MAX_VALUE_CHARS] + f"...[{len(value) - MAX_VALUE_CHARS} more]"
        return scrub(value) if scrubbed else value
    if type(value) in _NUMBERS:
        return value
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, tuple):
        return [bounded(v, scrubbed=scrubbed) for v in value[:MAX_ATTRIBUTES]]
    if isinstance(value, Mapping):
        return {k: bounded(v, scrubbed=scrubbed) for k, v in list(value.items())[:MAX_ATTRIBUTES]}
    return value


_NUMBERS = frozenset({int, float, bool})  # kept as they are, without the isinstance tests


def _key_mode(key: str) -> int:
    """`_DROP`, `_KEEP` or `_SCRUB` for a key under the active policy (cached)."""
    mode = _DROP if is_redacted(key) else _KEEP if key.startswith(_OWN_PREFIX) else _SCRUB
    if len(_key_modes) < 65536:
        _key_modes[key] = mode
    return mode


def safe_attributes(
    attributes: Mapping[str, AttrValue],
    allow: Iterable[str] = (),
    *,
    scrubbed: bool = True,
    limit: int = MAX_ATTRIBUTES,
) -> dict[str, Any]:
    """Attributes minus redacted keys (unless allowed), values bounded and (unless not
    `scrubbed`: spans held in memory are scrubbed when written) scrubbed by pattern;
    at most `limit` of them."""
    allowed = frozenset(allow) if allow else frozenset()
    out: dict[str, Any] = {}
    modes = _key_modes
    for key, value in attributes.items():
        if len(out) >= limit:
            break
        if allowed and key in allowed:
            out[key] = bounded(value, scrubbed=False)
            continue
        mode = modes.get(key)
        if mode is None:
            mode = _key_mode(key)
        if mode == _DROP:
            continue
        if type(value) is str and len(value) <= MAX_VALUE_CHARS:  # the common case, inline
            out[key] = scrub(value) if scrubbed and mode == _SCRUB else value
        else:
            out[key] = bounded(value, scrubbed=scrubbed and mode == _SCRUB)
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
