"""The receiver refuses JSON that is not OTLP with 400 and the same hint `ingest` gives."""

from __future__ import annotations

import json
from pathlib import Path

from receiver_helpers import JS, Server, post

NOT_OTLP = Path(__file__).parents[1] / "fixtures" / "not_otlp"


def test_jaeger_json_and_an_empty_object_get_400(server: Server) -> None:
    """Jaeger JSON and `{}` are refused as bad requests (not acknowledged as empty) and counted."""
    url = f"{server.url}/v1/traces"
    status, _, body = post(url, (NOT_OTLP / "jaeger.json").read_bytes(), JS)
    assert status == 400
    assert json.loads(body)["message"].startswith("this looks like Jaeger JSON")
    status, _, body = post(url, b"{}", JS)
    assert status == 400
    assert "holds no resourceSpans" in json.loads(body)["message"]
    assert post(url, b'{"resourceSpans": []}', JS)[0] == 200
    stats = json.loads(post(f"{server.url}/spansift/stats", b"", method="GET")[2])
    assert stats["requests_rejected"] == {"bad_request": 2}
