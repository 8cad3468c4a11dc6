"""The three sources give the same rows for the same spans: ingest, serve and the processor."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from receiver_helpers import Server, post, query_rows, spansift, wait_for

from spansift import ExceptionLogProcessor
from spansift.sources.otlp_encode import request_from_spans
from spansift.sources.otlp_json import parse_json

CORPUS = Path(__file__).parents[1] / "fixtures" / "corpus"
ROWS = "SELECT rule_id, trace_id, span_id FROM exceptions ORDER BY ALL"


def _scenarios(stack: str) -> list[Path]:
    return sorted(p for p in (CORPUS / stack).glob("*.json") if b"resourceSpans" in p.read_bytes())


def _rows(db: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(ROWS).fetchall()


@pytest.mark.parametrize("stack", ["openai_agents", "langgraph"])
def test_ingest_serve_and_processor_write_the_same_rows(
    stack: str, tmp_path: Path, make_server: Callable[..., Server]
) -> None:
    files = _scenarios(stack)
    contracts = CORPUS / stack / "spansift.yaml"
    with_contracts = ["--contracts", str(contracts)] if contracts.is_file() else []

    ingested = tmp_path / "ingest.duckdb"
    result = spansift("ingest", *map(str, files), "--db", str(ingested), *with_contracts,
                      cwd=tmp_path, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = _rows(ingested)
    assert len(expected) > 10

    served = tmp_path / "serve.duckdb"
    server = make_server(*with_contracts, "--run-window", "2", db=served)
    total = 0
    for path in files:
        spans = parse_json(path.read_bytes())
        total += len(spans)
        body = request_from_spans(spans).SerializeToString()
        status, _, _ = post(
            f"{server.url}/v1/traces", body, {"Content-Type": "application/x-protobuf"}
        )
        assert status == 200

    def settled() -> bool:
        stats = json.loads(post(f"{server.url}/spansift/stats", b"", method="GET")[2])
        saved = query_rows(server, "SELECT count(*) AS n FROM run_state")[0]["n"]
        return bool(stats["spans_processed"] >= total and saved == 0)

    wait_for(settled, timeout_s=60, what="every span processed and every run closed")
    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    assert _rows(served) == expected

    in_process = tmp_path / "processor.duckdb"
    processor = ExceptionLogProcessor(
        db=in_process, contracts=contracts if contracts.is_file() else None
    )
    for path in files:
        for span in parse_json(path.read_bytes()):
            processor.submit(span)
    processor.shutdown()
    assert _rows(in_process) == expected
