"""Read through a running receiver, JSON output keeps its conventions: objects and `Z` times."""

from __future__ import annotations

import json

from receiver_helpers import Server, otlp_json, post, spansift, wait_for


def test_json_through_the_receiver_has_objects_and_utc_times(server: Server) -> None:
    """`query --format json` while serve holds the log: evidence is an object, times end in Z."""
    body = otlp_json("ab" * 16, "cd" * 8)
    assert post(f"{server.url}/v1/traces", body, {"Content-Type": "application/json"})[0] == 200
    sql = "SELECT occurred_at, evidence FROM exceptions"

    def rows() -> list[dict[str, object]]:
        out = spansift("query", sql, "--format", "json", "--db", str(server.db), cwd=server.workdir)
        found: list[dict[str, object]] = json.loads(out.stdout)
        return found

    (row,) = wait_for(rows, 15, "the row")
    assert row["occurred_at"] == "2023-11-14T22:13:21Z"
    assert isinstance(row["evidence"], dict)
