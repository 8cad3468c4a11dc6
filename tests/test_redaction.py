"""Evidence leaves out content keys and scrubs secrets, e-mails and card numbers, configurably."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from spansift.cli import main
from spansift.evidence import configure_redaction, span_evidence
from spansift.model import Span, SpanKind, StatusCode

CONTENT = {
    "traceloop.entity.input": '{"question": "my SSN is 078-05-1120"}',
    "traceloop.entity.output": "the answer",
    "ai.prompt": "system prompt",
    "ai.prompt.messages": "[...]",
    "ai.response.text": "model output",
    "db.statement": "SELECT * FROM users WHERE email = 'x@y.com'",
    "user.email": "carol@example.com",
    "api_key": "abc123",
    "llm.provider.api_key": "abc123",
}


@pytest.fixture(autouse=True)
def default_policy() -> Iterator[None]:
    configure_redaction()
    yield
    configure_redaction()


def _span(attributes: dict[str, object], message: str = "") -> Span:
    return Span(
        "a" * 32, "b" * 16, None, "execute_tool refund_order", SpanKind.INTERNAL, 1, 2,
        StatusCode.ERROR, message, attributes,  # type: ignore[arg-type]
    )  # fmt: skip


def test_content_and_credential_keys_are_left_out() -> None:
    """The keys the red team found (Traceloop, Vercel AI SDK, db.statement, credentials) go."""
    kept = span_evidence(_span({**CONTENT, "gen_ai.tool.name": "refund_order"}))["attributes"]
    assert kept == {"gen_ai.tool.name": "refund_order"}


def test_values_are_scrubbed_by_pattern() -> None:
    """Credentials in URLs, key=value secrets, tokens, e-mails and card numbers are replaced."""
    message = (
        "charge failed for dave@example.com card 4111 1111 1111 1111 (order 12345678901234) "
        "api_key=sk-live-abcdef123456 Authorization: Bearer eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl"
    )
    doc = span_evidence(
        _span(
            {
                "url.full": "https://bob:hunter2@api.example.com/v1?x=1",
                "note": "key sk-proj-ABCDEFGHIJKLMNOPQRSTUV and AKIAABCDEFGHIJKLMNOP",
                "spansift.gate.approver": "alice@example.com",
            },
            message,
        )
    )
    assert doc["status_message"] == (
        "charge failed for [REDACTED:email] card [REDACTED:card] (order 12345678901234) "
        "api_key=[REDACTED:secret] Authorization: [REDACTED:secret]"
    )
    attributes = doc["attributes"]
    assert attributes["url.full"] == "https://[REDACTED:credentials]@api.example.com/v1?x=1"
    assert attributes["note"] == "key [REDACTED:secret] and [REDACTED:secret]"
    assert attributes["spansift.gate.approver"] == "alice@example.com"  # who decided stays


def test_keys_are_configurable_and_patterns_can_be_turned_off() -> None:
    """Configured keys and prefixes are left out too; `patterns: false` keeps values as sent."""
    configure_redaction(["my.secret"], ["myapp.payload."], patterns=False)
    doc = span_evidence(
        _span({"my.secret": "x", "myapp.payload.body": "y", "who": "e@example.com"})
    )
    assert doc["attributes"] == {"who": "e@example.com"}


def test_ingest_reads_the_redaction_section(tmp_path: Path) -> None:
    """`redaction:` in spansift.yaml applies to what `spansift ingest` writes, in a 0600 log."""
    contracts = tmp_path / "spansift.yaml"
    contracts.write_text(
        "agents:\n  support-agent: {owner: ops}\nredaction:\n  keys: [gen_ai.tool.name]\n"
    )
    trace = {
        "resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": "ab" * 16, "spanId": "cd" * 8, "name": "execute_tool refund_order",
            "kind": 1, "startTimeUnixNano": "1", "endTimeUnixNano": "2",
            "status": {"code": 2, "message": "failed for eve@example.com"},
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
                {"key": "gen_ai.tool.name", "value": {"stringValue": "refund_order"}},
            ],
        }]}]}]
    }  # fmt: skip
    source = tmp_path / "trace.jsonl"
    source.write_text(json.dumps(trace) + "\n")
    db = tmp_path / "log.duckdb"
    result = CliRunner().invoke(
        main, ["ingest", str(source), "--db", str(db), "--contracts", str(contracts)]
    )
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(db), read_only=True) as con:
        evidence = json.loads(con.execute("SELECT evidence FROM exceptions").fetchone()[0])
    span = evidence["span"]
    assert "gen_ai.tool.name" not in span["attributes"]
    assert span["status_message"] == "failed for [REDACTED:email]"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_serve_help_says_where_a_token_shows() -> None:
    """`serve --help` says a --token value is visible in the process list and names the env var."""
    text = " ".join(CliRunner().invoke(main, ["serve", "--help"]).output.split())
    assert "visible to every local user in the process list" in text
    assert "SPANSIFT_TOKEN" in text


def test_scrubbing_twice_changes_nothing_more() -> None:
    """Held spans are scrubbed once and their evidence again: the second pass is a no-op."""
    from spansift.evidence import scrub

    text = (
        "https://bob:hunter2@api.example.com api_key=abcdef123 Bearer abcdefghijkl "
        "x@example.com 4111-1111-1111-1111 sk-ABCDEFGHIJKLMNOPQRST"
    )
    once = scrub(text)
    assert once == (
        "https://[REDACTED:credentials]@api.example.com api_key=[REDACTED:secret] "
        "Bearer [REDACTED:secret] [REDACTED:email] [REDACTED:card] [REDACTED:secret]"
    )
    assert scrub(once) == once
