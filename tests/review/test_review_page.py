"""The review page of `spansift serve`, driven in headless Chromium through a triage."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from review_helpers import Serve, rows, scenario

TOKEN = "s3cret"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium context from Debian's package, driven by Playwright (no download)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed here (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium, headless=True,
            args=CHROMIUM_FLAGS,
        )  # fmt: skip
        try:
            yield context
        finally:
            context.close()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def test_page_needs_the_token(db: Path, serve: Callable[..., Serve]) -> None:
    """With --token the page and its API answer 401 without it, and the page carries no CDN."""
    scenario(db)
    server = serve(db, "--token", TOKEN)
    assert _get(f"{server.url}/review")[0] == 401
    assert _get(f"{server.url}/review/api/review")[0] == 401
    status, body = _get(f"{server.url}/review", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    page = body.decode()
    assert "http://" not in page and "https://" not in page  # nothing from the network
    status, body = _get(
        f"{server.url}/review/api/review?days=7", {"Authorization": f"Bearer {TOKEN}"}
    )
    assert [p["severity"] for p in json.loads(body)["patterns"]][:2] == ["high", "medium"]


def test_without_token_the_page_needs_the_generated_one(
    db: Path, serve: Callable[..., Serve]
) -> None:
    """No --token: the page writes decisions, so it needs the token generated beside the log."""
    scenario(db)
    server = serve(db)
    assert _get(f"{server.url}/review")[0] == 401
    generated = Path(f"{db}.token").read_text().strip()
    assert _get(f"{server.url}/review", {"Authorization": f"Bearer {generated}"})[0] == 200


def test_triage_of_a_seeded_week_in_chromium(
    db: Path, cli: Callable[..., Result], serve: Callable[..., Serve], browser: Any
) -> None:
    """Open patterns in triage order, a trace tree, then resolve, assign and suppress by click."""
    scenario(db)
    server = serve(db, "--token", TOKEN)
    page = browser.new_page()
    page.goto(f"{server.url}/review?token={TOKEN}")
    patterns = page.locator("[data-testid=pattern]")
    patterns.first.wait_for()
    first = patterns.first.locator("td")
    assert [first.nth(i).inner_text() for i in (0, 2, 4, 5)] == [
        "high", "tool_error", "refund_order", "5",
    ]  # fmt: skip
    assert patterns.count() == 5

    patterns.first.get_by_test_id("evidence").click()
    offending = page.get_by_test_id("offending-span")
    offending.wait_for()
    assert "execute_tool refund_order" in offending.inner_text()
    picker = page.get_by_test_id("pick-row")
    assert picker.locator("option").count() == 5  # the evidence of any row of the pattern
    other = picker.locator("option").nth(4).get_attribute("value")
    picker.select_option(other)
    page.get_by_text(f"Evidence for {other[:12]}").wait_for()

    page.fill("#reviewer", "carol@example.com")
    patterns.first.get_by_test_id("resolve").click()
    form = page.get_by_test_id("resolve-form")
    form.locator("input[name=resolution]").fill("retry with backoff in the refund client")
    form.locator("select[name=follow_up]").select_option("eval_case")
    page.get_by_test_id("confirm-resolve").click()
    page.get_by_text("resolved: 5 exception(s)").wait_for()

    ops = page.locator("[data-testid=pattern]", has_text="shell")
    ops.get_by_test_id("assign").click()
    page.get_by_test_id("assign-form").locator("input[name=owner]").fill("sre-team")
    page.get_by_test_id("confirm-assign").click()
    page.get_by_text("assigned: 1 exception(s)").wait_for()

    search = page.locator("[data-testid=pattern]", has_text="search_docs")
    search.get_by_test_id("suppress").click()
    page.get_by_test_id("confirm-suppress").click()
    page.get_by_text("suppressed: 1 pattern(s)").wait_for()
    page.locator("[data-testid=pattern]", has_text="search_docs").get_by_text("-").first.wait_for()
    assert server.stop() == 0

    decided = rows(
        db,
        "SELECT count(*), any_value(actor), any_value(resolution), any_value(follow_up) "
        "FROM decisions WHERE action = 'resolve' AND actor = 'carol@example.com'",
    )
    assert decided == [(5, "carol@example.com", "retry with backoff in the refund client",
                        "eval_case")]  # fmt: skip
    assert rows(db, "SELECT DISTINCT owner FROM exceptions WHERE tool = 'shell'") == [("sre-team",)]
    assert rows(db, "SELECT action FROM pattern_decisions") == [("suppress",)]
    assert rows(db, "SELECT status FROM exceptions WHERE tool = 'search_docs'") == [("suppressed",)]
    verified = cli("verify", "--db", str(db))
    assert verified.exit_code == 0, verified.output
    assert verified.output.startswith("ok: ")
