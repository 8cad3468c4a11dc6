"""The OpenTelemetry JS exporters (protobuf and JSON over HTTP) against a real `spansift serve`.

They send chunked bodies without Content-Length. The npm packages are installed
into tests/js on first use; the test skips where Node.js or the registry is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from receiver_helpers import Server, count_exceptions, wait_for

JS_DIR = Path(__file__).parents[1] / "js"


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with the exporters installed beside export.js."""
    found = shutil.which("node")
    npm = shutil.which("npm")
    if found is None or npm is None:
        pytest.skip("Node.js is not installed")
    if not (JS_DIR / "node_modules" / "@opentelemetry" / "exporter-trace-otlp-proto").is_dir():
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_DIR, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            pytest.skip(f"npm install failed: {result.stderr.strip()[-300:]}")
    return found


@pytest.mark.parametrize("kind", ["proto", "http"])
def test_js_exporter_spans_are_recorded(node: str, server: Server, kind: str) -> None:
    """A failed tool span sent by the JS exporter is acknowledged and becomes a row."""
    tool = f"js_{kind}_tool"
    result = subprocess.run(
        [node, "export.js", kind, f"{server.url}/v1/traces", tool],
        cwd=JS_DIR, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["code"] == 0
    wait_for(lambda: count_exceptions(server, [outcome["traceId"]]) == 1, what=f"the {kind} row")
