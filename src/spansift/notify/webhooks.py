"""Notifying owners: JSON webhooks with retries, a recorded outcome and no secrets in logs.

    webhooks:
      - name: payments-pager
        url: https://hooks.example.com/spansift
        match: {owner: "payments*", min_severity: high}
        secret_header: X-Hook-Token      # optional; the value comes from the environment
        secret_env: PAYMENTS_HOOK_TOKEN
        format: slack                    # optional: a Slack-compatible body (text + blocks)
        max_per_hour: 20                 # optional: pushed messages per owner per hour

`match` takes globs for `owner`, `workflow`, `exception_type` and a `min_severity`. The
URL and the secret are never written to the log or printed: deliveries are recorded
under the hook's name, errors as an HTTP status or an exception class and reason.
URLs must be http:// or https://. A redirect is followed only to the same scheme,
host and port; one to anywhere else is not followed (the delivery fails), so the
secret header never reaches a host the configuration did not name.

`deliver` blocks for at most `attempts` tries with exponential backoff; call it off
any latency-sensitive thread.
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.client import HTTPMessage
from typing import IO, Any
from urllib.parse import urlsplit

from spansift.errors import SpansiftError
from spansift.model import SEVERITY_POINTS

_MATCH_KEYS = ("owner", "workflow", "exception_type", "min_severity")
_HOOK_KEYS = ("name", "url", "match", "secret_header", "secret_env", "format", "max_per_hour")
FORMATS = ("json", "slack")
MAX_PER_HOUR = 20

_SCHEMES = ("http", "https")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects within the configured origin only; elsewhere is an HTTP error."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if _origin(newurl) != _origin(req.full_url):
            raise urllib.error.HTTPError(req.full_url, code, _NOT_FOLLOWED, headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_NOT_FOLLOWED = "redirect to another host, not followed"
_OPENER = urllib.request.build_opener(_SameOriginRedirects)


@dataclass(frozen=True, slots=True)
class Hook:
    """One webhook target."""

    name: str
    url: str
    match: tuple[tuple[str, str], ...] = ()
    secret_header: str | None = None
    secret_env: str | None = None
    format: str = "json"  # json, or slack: {"text", "blocks"} as Slack incoming webhooks take
    max_per_hour: int = MAX_PER_HOUR  # pushed messages per owner per hour; more wait their turn

    def wants(self, row: Mapping[str, Any]) -> bool:
        for key, pattern in self.match:
            if key == "min_severity":
                if SEVERITY_POINTS.get(row.get("severity") or "", 0) < SEVERITY_POINTS[pattern]:
                    return False
            elif not fnmatch.fnmatchcase(str(row.get(key) or ""), pattern):
                return False
        return True


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one delivery went; `error` never holds the URL or a secret."""

    delivered: bool
    attempts: int
    http_status: int | None
    error: str | None


def parse_hooks(doc: Any, where: str) -> tuple[Hook, ...]:
    """Hooks from the parsed `webhooks:` list; `SpansiftError` names the bad entry."""
    if doc is None:
        return ()
    if not isinstance(doc, list):
        msg = f"{where}: 'webhooks' must be a list"
        raise SpansiftError(msg)
    hooks = []
    for number, entry in enumerate(doc, 1):
        label = f"{where}: webhooks entry {number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            msg = f"{label} needs a 'url'"
            raise SpansiftError(msg)
        if urlsplit(entry["url"]).scheme not in _SCHEMES or not urlsplit(entry["url"]).hostname:
            msg = f"{label}: 'url' must be an http:// or https:// URL with a host"
            raise SpansiftError(msg)
        match = entry.get("match") or {}
        if not isinstance(match, dict) or set(match) - set(_MATCH_KEYS):
            msg = f"{label}: 'match' keys must be among {', '.join(_MATCH_KEYS)}"
            raise SpansiftError(msg)
        if "min_severity" in match and match["min_severity"] not in SEVERITY_POINTS:
            msg = f"{label}: min_severity must be one of {', '.join(SEVERITY_POINTS)}"
            raise SpansiftError(msg)
        if bool(entry.get("secret_header")) != bool(entry.get("secret_env")):
            msg = f"{label}: give both secret_header and secret_env, or neither"
            raise SpansiftError(msg)
        unknown = sorted(set(entry) - set(_HOOK_KEYS))
        if unknown:
            msg = f"{label}: unknown key {unknown[0]!r}; use {', '.join(_HOOK_KEYS)}"
            raise SpansiftError(msg)
        fmt = entry.get("format", "json")
        rate = entry.get("max_per_hour", MAX_PER_HOUR)
        if fmt not in FORMATS:
            msg = f"{label}: format must be one of {', '.join(FORMATS)}"
            raise SpansiftError(msg)
        if not isinstance(rate, int) or isinstance(rate, bool) or rate < 1:
            msg = f"{label}: max_per_hour must be a positive whole number"
            raise SpansiftError(msg)
        hooks.append(
            Hook(
                str(entry.get("name") or f"hook{number}"),
                entry["url"],
                tuple((str(k), str(v)) for k, v in match.items()),
                entry.get("secret_header"),
                entry.get("secret_env"),
                fmt,
                rate,
            )
        )
    return tuple(hooks)


def pattern_payload(hook: Hook, event: str, pattern: Mapping[str, Any]) -> dict[str, Any]:
    """The body announcing a new or regressed pattern, in the hook's format."""
    body = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in pattern.items()}
    if hook.format != "slack":
        return {"event": f"pattern.{event}", "pattern": body}
    title = "New exception pattern" if event == "new" else "Exception pattern regressed"
    subject = body.get("tool") or body.get("agent") or "-"
    text = (
        f"{title}: {body.get('severity')} {body.get('exception_type')} in "
        f"{body.get('workflow') or '(no workflow)'} ({subject}): {body.get('summary')}"
    )
    facts = (
        f"*owner* {body.get('owner') or '(unowned)'}  *rows* {body.get('exceptions')}  "
        f"*exception* `{str(body.get('exception_id'))[:12]}`  *trace* `{body.get('trace_id')}`"
    )
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n{text}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": facts}]},
        ],
    }


def payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body for one exception row."""
    keys = ("exception_id", "occurred_at", "workflow", "exception_type", "severity", "rule_id",
            "agent", "tool", "summary", "owner", "status", "trace_id", "span_id")  # fmt: skip
    body = {
        k: (row[k].isoformat() if hasattr(row.get(k), "isoformat") else row.get(k)) for k in keys
    }
    return {"event": f"exception.{row.get('status') or 'open'}", "exception": body}


def deliver(
    hook: Hook,
    body: Mapping[str, Any],
    *,
    attempts: int = 4,
    backoff_s: float = 0.5,
    timeout_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    delivery_id: str | None = None,
) -> Outcome:
    """POST `body` as JSON; retry on connection errors, 429 and 5xx with doubling delays.

    `delivery_id` goes out as `X-Spansift-Delivery`, the same on every retry, so a receiver
    can drop the copy a crash between its answer and our record may cause.
    """
    if urlsplit(hook.url).scheme not in _SCHEMES:
        return Outcome(False, 0, None, "only http:// and https:// URLs are delivered to")
    headers = {"Content-Type": "application/json", "User-Agent": "spansift-webhook"}
    if delivery_id:
        headers["X-Spansift-Delivery"] = delivery_id
    if hook.secret_header and hook.secret_env:
        secret = os.environ.get(hook.secret_env)
        if not secret:
            return Outcome(False, 0, None, f"environment variable {hook.secret_env} is not set")
        headers[hook.secret_header] = secret
    data = json.dumps(body, default=str).encode()
    status: int | None = None
    error: str | None = None
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(hook.url, data=data, headers=headers, method="POST")
        try:
            with _OPENER.open(request, timeout=timeout_s) as response:
                return Outcome(True, attempt, response.status, None)
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
            if exc.msg == _NOT_FOLLOWED:
                error += f": {_NOT_FOLLOWED}"
            exc.close()
            if exc.code != 429 and exc.code < 500:
                return Outcome(False, attempt, status, error)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None)
            error = f"{type(exc).__name__}: {type(reason).__name__ if reason else 'no answer'}"
        if attempt < attempts:
            sleep(backoff_s * 2 ** (attempt - 1))
    return Outcome(False, attempts, status, error)
