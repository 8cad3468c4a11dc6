"""`spansift review`: terminal tables, Markdown and a self-contained HTML page."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from review_helpers import scenario

ROOT = Path(__file__).parents[2]
OWNERS = str(ROOT / "tests" / "fixtures" / "review" / "owners.yaml")


def _section(output: str, title: str) -> str:
    return output.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_review_tables(db: Path, cli: Callable[..., Result]) -> None:
    """The weekly review: patterns in triage order, owners routed at write, follow-ups, metrics."""
    scenario(db, Path(OWNERS))
    result = cli("review", "--since", "7d", "--db", str(db))
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("spansift review ")
    assert "exceptions: 10, open: 9, unowned: 7, decisions: 1" in out
    patterns = [line.split()[:8] for line in _section(out, "Patterns (triage order)").splitlines()]
    assert patterns[2:6] == [
        ["high", "new", "tool_error", "support", "refund_order", "5", "5", "6d"],
        ["medium", "new", "tool_error", "support", "search_docs", "1", "1", "6d"],
        ["medium", "new", "tool_error", "ops", "shell", "1", "1", "2d"],
        ["medium", "new", "human_override", "support", "edit", "1", "1", "1d"],
    ]
    assert patterns[6][:7] == ["medium", "regressed", "tool_error", "billing", "charge", "1", "2"]
    unresolved = _section(out, "Unresolved by owner")
    assert "billing-team" in unresolved
    assert "support-leads" in unresolved
    assert "(unowned)" in unresolved
    listed = cli("ls", "--workflow", "billing", "--format", "csv", "--db", str(db)).output
    assert listed.count(",billing-team,") == 2  # `ls` shows the owner the review counts
    assert "eval_case  billing   1" in _section(out, "Follow-ups decided")
    escalations = _section(out, "Overrides, rollbacks, escalations").splitlines()
    assert escalations[2].split() == ["support", "1", "0", "0", "0"]
    signal = _section(out, "Autonomy signal")
    assert "no traffic counts" in signal
    assert "RATE RISING" not in signal
    metrics = _section(out, "Incident metrics (medians)").splitlines()
    assert metrics[3].split()[:7] == ["billing", "2", "2d", "12h", "-", "0s", "5d"]


def test_review_markdown(db: Path, cli: Callable[..., Result]) -> None:
    """`--format markdown` gives a heading and pipe tables."""
    scenario(db)
    result = cli("review", "--format", "markdown", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# spansift review: ")
    assert "| workflow | type | exceptions | open | high+ |" in result.output
    assert "| support | tool_error | 6 | 6 | 4 |" in result.output


def _png_pixels_vary(path: Path) -> bool:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    return len(set(raw[: 1 << 20])) > 8


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed here (.ci/run installs it)")
    return found


def test_review_html_renders_in_chromium(
    db: Path, cli: Callable[..., Result], tmp_path: Path
) -> None:
    """The HTML page is self-contained and renders charts and numbers in headless Chromium."""
    browser = _chromium()
    scenario(db)
    page = tmp_path / "review.html"
    result = cli("review", "--format", "html", "--out", str(page), "--db", str(db))
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert "<script" not in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900",
    ]  # fmt: skip
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert dom.count("<svg") == 3
    for workflow in ("billing", "ops", "support"):
        assert f'data-workflow="{workflow}"' in dom
    assert "no traffic counts" in dom
    assert "<b>10</b> exceptions" in dom
    assert "refund_order failed in support-agent</td>" in dom  # summaries are not cut
    shot = tmp_path / "review.png"
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert _png_pixels_vary(shot)
