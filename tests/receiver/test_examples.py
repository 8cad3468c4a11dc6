"""The quickstarts work as the README tells them: `examples/my_agent.py` into `spansift serve`
configured by OTEL_* variables only, and the sample ingested so that `--since 7d` sees it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from receiver_helpers import Server, query_rows, spansift, wait_for

ROOT = Path(__file__).parents[2]
AGENT = ROOT / "examples" / "my_agent.py"
SAMPLE = ROOT / "examples" / "agent-traces.jsonl"


@pytest.mark.parametrize(
    ("protocol", "service", "workflow"),
    [("http/protobuf", "support", "support"), ("grpc", None, "unknown_service:python")],
)
def test_my_agent_reports_the_failed_refund(
    server: Server, protocol: str, service: str | None, workflow: str
) -> None:
    """The refund fails 'in support-agent' (gen_ai.agent.name); the workflow is
    OTEL_SERVICE_NAME, or the SDK's unknown_service:python without it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANSIFT_"))}
    port = server.grpc_port if protocol == "grpc" else server.http_port
    env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}  # fmt: skip
    if service:
        env["OTEL_SERVICE_NAME"] = service
    ran = subprocess.run([sys.executable, str(AGENT)], env=env, capture_output=True, text=True,
                         timeout=60, check=False)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == ""
    sql = "SELECT exception_type, workflow, agent, summary FROM exceptions"
    rows = wait_for(lambda: query_rows(server, sql), 15, "the refund's row")
    assert rows == [
        {
            "exception_type": "tool_error",
            "workflow": workflow,
            "agent": "support-agent",
            "summary": "tool refund_order failed in support-agent: payment gateway timed out "
            "after 30s",
        }
    ]


def test_the_sample_shifted_to_now_is_in_this_weeks_review(tmp_path: Path) -> None:
    """`ingest --shift-to-now` dates the 2025 sample so that it ends now: `ls --since 1d` and
    `review --since 7d` see its three exceptions, and shifting again adds no rows."""
    db = str(tmp_path / "log.duckdb")
    first = spansift("ingest", "--shift-to-now", str(SAMPLE), "--db", db, cwd=tmp_path)
    assert "3 exceptions found (3 new)" in first.stdout
    listed = spansift("ls", "--since", "1d", "--format", "json", "--db", db, cwd=tmp_path)
    assert len(json.loads(listed.stdout)) == 3
    review = spansift("review", "--format", "json", "--db", db, cwd=tmp_path)
    assert json.loads(review.stdout)["totals"]["exceptions"] == 3
    again = spansift("ingest", "--shift-to-now", str(SAMPLE), "--db", db, cwd=tmp_path)
    assert "3 exceptions found (0 new)" in again.stdout
    unshifted = str(tmp_path / "as-recorded.duckdb")
    spansift("ingest", str(SAMPLE), "--db", unshifted, cwd=tmp_path)
    recorded = spansift("ls", "--since", "7d", "--format", "json", "--db", unshifted, cwd=tmp_path)
    assert json.loads(recorded.stdout) == []  # as recorded, the sample is from November 2025
