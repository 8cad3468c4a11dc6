"""`--keep-traces` and `spansift rederive`: kept traces rerun with a changed pack, through the CLI,
on a real DuckDB file and real Parquet files."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner, Result

from spansift.cli import main
from spansift.model import Span, SpanRecord, StatusCode
from spansift.store import chain
from spansift.store.kept import TraceKeeper, folder_of, kept_files, parse_size
from spansift.store.log import ExceptionLog

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "examples" / "agent-traces.jsonl"
FRAMEWORKS = sorted((ROOT / "tests" / "fixtures" / "frameworks").glob("*.json"))
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
TRACES = ROOT / "tests" / "fixtures" / "traces"
CONTRACTS = TRACES / "spansift.yaml"
# The sample's four traces end at 08:26:41, 08:27:41, 08:28:41 and 08:29:41 (2025-11-22):
# tool_error rows on the second and fourth, an unknown_tool row on the third.
ALL = "2025-11-01"
LAST_TRACE = "2025-11-22T08:29:00"
GET_ORDER_POLICY = """\
spansift_rules: 1
items:
  - rule: get_order_watch
    exception: policy_violation
    severity: low
    boundary: orders
    summary: "{agent.name} read an order"
    when:
      tool.name: get_order
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def ingest_kept(db: Path, *paths: Path, extra: tuple[str, ...] = ()) -> Result:
    return ok("ingest", *map(str, paths), "--db", str(db), "--keep-traces", *extra)


def rederive(db: Path, *args: str) -> dict[str, object]:
    out = ok("rederive", "--db", str(db), "--format", "json", *args).stdout
    doc: dict[str, object] = json.loads(out)
    return doc


def changes(doc: dict[str, object]) -> set[tuple[str, str, str, int]]:
    listed = doc["changes"]
    assert isinstance(listed, list)
    return {(c["change"], c["type"], c["rule"], c["rows"]) for c in listed}


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def without_rule(tmp_path: Path, rule: str) -> Path:
    """The built-in pack with one rule taken out, as a folder for `--rules`."""
    folder = tmp_path / f"without-{rule}"
    folder.mkdir()
    for source in (ROOT / "rules").glob("*.yaml"):
        doc = yaml.safe_load(source.read_text())
        doc["items"] = [item for item in doc["items"] if item.get("rule") != rule]
        (folder / source.name).write_text(yaml.safe_dump(doc))
    return folder


def rules_dir(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "rules.yaml").write_text(text)
    return folder


def test_ingest_keeps_each_span_once_redacted_like_evidence(tmp_path: Path) -> None:
    """The kept spans: every span of the sample, with prompts dropped and secrets scrubbed."""
    line = json.loads(SAMPLE.read_text().splitlines()[0])
    span = line["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["attributes"] += [
        {"key": "gen_ai.input.messages", "value": {"stringValue": "my card is 4111"}},
        {"key": "url.full", "value": {"stringValue": "https://bob:hunter2@example.com/x"}},
        {"key": "note", "value": {"stringValue": "mail alice@example.com please"}},
    ]
    src = tmp_path / "traces.jsonl"
    src.write_text(json.dumps(line) + "\n" + "\n".join(SAMPLE.read_text().splitlines()[1:]))
    db = tmp_path / "log.duckdb"
    out = ingest_kept(db, src).stdout
    assert f"kept 10 spans of closed traces in {folder_of(db)}" in out
    files = kept_files(folder_of(db))
    assert len(files) == 1
    kept = duckdb.sql(f"SELECT span_id, attributes, fields FROM read_parquet('{files[0]}')")
    found = {r[0]: r for r in kept.fetchall()}
    assert len(found) == 10
    text = found[span["spanId"]][1] + found[span["spanId"]][2]
    assert "gen_ai.input.messages" not in text and "hunter2" not in text
    assert "alice@example.com" not in text
    assert "[REDACTED:credentials]" in text and "[REDACTED:email]" in text
    assert json.loads(found[span["spanId"]][2])["span.kind"] == "llm"  # the fields kept too


@pytest.mark.parametrize(
    "paths",
    [FRAMEWORKS, sorted((CORPUS / "langgraph").glob("*.json"))],
    ids=["frameworks", "langgraph-corpus"],
)
def test_the_same_pack_finds_no_difference(tmp_path: Path, paths: list[Path]) -> None:
    """Rerun with the pack that wrote the log: every row reproduced, none added or withdrawn,
    although the kept spans lost their content to redaction."""
    db = tmp_path / "log.duckdb"
    ingest_kept(db, *paths)
    held = rows(db, "SELECT count(*) FROM exception_rows")[0][0]
    doc = rederive(db, "--since", "2000-01-01", "--dry-run")
    assert doc["added"] == doc["withdrawn"] == doc["reinstated"] == 0, doc["changes"]
    assert doc["produced"] == doc["unchanged"] == held
    assert isinstance(held, int) and held > 10


def test_removed_rule_withdraws_its_rows_chained_and_dry_run_writes_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "log.duckdb"
    ingest_kept(db, SAMPLE)
    narrower = without_rule(tmp_path, "unknown_tool")
    pack = ("--no-default-rules", "--rules", str(narrower), "--since", ALL)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    dry = rederive(db, *pack, "--dry-run")
    assert changes(dry) == {("withdrawn", "unknown_tool", "unknown_tool", 1)}
    assert (dry["produced"], dry["unchanged"], dry["dry_run"]) == (2, 2, True)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before, "a dry run wrote"

    done = rederive(db, *pack)
    assert changes(done) == changes(dry)
    assert rows(db, "SELECT exception_type, status FROM exceptions WHERE status = 'withdrawn'") == [
        ("unknown_tool", "withdrawn")
    ]
    assert rows(db, "SELECT action, actor FROM withdrawals") == [("withdraw", "rederive")]
    assert "withdrawn" in ok("ls", "--db", str(db), "--status", "withdrawn").stdout
    assert "ok:" in ok("verify", "--db", str(db)).stdout
    assert changes(rederive(db, *pack)) == set(), "a second run withdraws nothing again"

    # The default pack again: the withdrawn row is reinstated, open once more.
    back = rederive(db, "--since", ALL)
    assert changes(back) == {("reinstated", "unknown_tool", "unknown_tool", 1)}
    assert rows(db, "SELECT DISTINCT status FROM exceptions") == [("open",)]
    assert "ok:" in ok("verify", "--db", str(db)).stdout


def test_added_rule_adds_rows_through_the_write_path(tmp_path: Path) -> None:
    db = tmp_path / "log.duckdb"
    ingest_kept(db, SAMPLE)
    extra = rules_dir(tmp_path, "extra", GET_ORDER_POLICY)
    doc = rederive(db, "--rules", str(extra), "--since", ALL)
    assert changes(doc) == {("added", "policy_violation", "get_order_watch", 1)}
    found = rows(
        db,
        "SELECT count(*), count(DISTINCT e.trace_id) FROM exceptions e JOIN evidence_spans s "
        "USING (exception_id) WHERE rule_id = 'get_order_watch' AND offending",
    )
    assert found == [(1, 1)], "the added row has its evidence"
    assert "ok:" in ok("verify", "--db", str(db)).stdout
    # Without the rule again, the rows it added are withdrawn.
    assert changes(rederive(db, "--since", ALL)) == {
        ("withdrawn", "policy_violation", "get_order_watch", 1)
    }


def test_an_added_rule_that_contains_suspends_nothing(tmp_path: Path) -> None:
    """Last month's rows are no incident now: a new `contain:` rule adds rows, no suspension."""
    db = tmp_path / "log.duckdb"
    ingest_kept(db, SAMPLE)
    rule = GET_ORDER_POLICY.replace("    when:", "    contain: agent\n    when:")
    doc = rederive(db, "--rules", str(rules_dir(tmp_path, "contain", rule)), "--since", ALL)
    assert changes(doc) == {("added", "policy_violation", "get_order_watch", 1)}
    assert rows(db, "SELECT count(*) FROM suspensions") == [(0,)]


def test_rows_of_traces_not_kept_are_never_withdrawn(tmp_path: Path) -> None:
    """Outside the window, or written before keeping was on: the rows stay as they are."""
    db = tmp_path / "log.duckdb"
    ok("ingest", str(SAMPLE), "--db", str(db))  # not kept
    other = tmp_path / "other.jsonl"
    other.write_text(SAMPLE.read_text().replace("7a3f0000", "7a3f1111"))
    ingest_kept(db, other)
    nothing = rules_dir(tmp_path, "none", "spansift_rules: 1\nitems: []\n")
    pack = ("--no-default-rules", "--rules", str(nothing))
    window = rederive(db, *pack, "--since", LAST_TRACE, "--dry-run")
    assert window["window_traces"] == 1
    assert changes(window) == {("withdrawn", "tool_error", "tool_error", 1)}
    everything = rederive(db, *pack, "--since", ALL)
    assert everything["withdrawn"] == 3
    withdrawn = rows(db, "SELECT DISTINCT trace_id FROM exceptions WHERE status = 'withdrawn'")
    assert {t for (t,) in withdrawn} <= {f"7a3f1111{'0' * 23}{i}" for i in range(1, 5)}
    assert rows(db, "SELECT count(*) FROM exceptions WHERE status = 'open'") == [(3,)]


def test_a_granted_use_stays_a_grant_use_after_the_grant_is_revoked(tmp_path: Path) -> None:
    """A hit a grant covered when it arrived is no new row, even once the grant is gone."""
    db = tmp_path / "log.duckdb"
    with ExceptionLog(db) as log:  # a standing approval from before the trace
        log.append(chain.GRANT, "grants", [(
            "g1", "support-agent", "refund_order", "*", datetime(2025, 1, 1),
            datetime(2030, 1, 1), "alice@example.com", "refunds are routine",
        )])  # fmt: skip
    ingest_kept(db, TRACES / "bypass.jsonl", extra=("--contracts", str(CONTRACTS)))
    assert rows(db, "SELECT count(*) FROM exceptions") == [(0,)]
    assert rows(db, "SELECT exception_type FROM grant_uses") == [("approval_bypassed",)]
    ok("grant", "revoke", "g1", "--db", str(db), "--by", "bob", "--reason", "audit")
    doc = rederive(db, "--contracts", str(CONTRACTS), "--since", ALL)
    assert (doc["changes"], doc["unchanged"]) == ([], 1)
    assert rows(db, "SELECT count(*) FROM exceptions") == [(0,)]


def test_a_tampered_withdrawal_is_caught_by_verify(tmp_path: Path) -> None:
    db = tmp_path / "log.duckdb"
    ingest_kept(db, SAMPLE)
    nothing = rules_dir(tmp_path, "none", "spansift_rules: 1\nitems: []\n")
    rederive(db, "--no-default-rules", "--rules", str(nothing), "--since", ALL)
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE withdrawals SET action = 'reinstate' WHERE exception_id = "
                    "(SELECT min(exception_id) FROM withdrawals)")  # fmt: skip
    result = run("verify", "--db", str(db))
    assert result.exit_code == 1
    assert "changed: withdrawal" in result.output


def test_size_cap_deletes_the_oldest_files_first(tmp_path: Path) -> None:
    db = tmp_path / "log.duckdb"
    ingest_kept(db, SAMPLE)
    (first,) = kept_files(folder_of(db))
    other = tmp_path / "other.jsonl"
    other.write_text(SAMPLE.read_text().replace("7a3f0000", "7a3f2222"))
    out = ingest_kept(db, other, extra=("--keep-traces-max", f"{first.stat().st_size + 100}B"))
    assert "1 oldest files deleted to stay under the cap" in out.stdout
    (second,) = kept_files(folder_of(db))
    assert second.name > first.name and not first.exists()
    doc = rederive(db, "--since", ALL, "--dry-run")
    assert (doc["window_traces"], doc["produced"]) == (4, 3), "only the newest file is read"


def test_a_failed_keep_loses_no_row(tmp_path: Path) -> None:
    """When the traces cannot be kept (a file where the folder goes), the log gets its rows."""
    db = tmp_path / "log.duckdb"
    folder_of(db).write_text("in the way")
    result = ingest_kept(db, SAMPLE)
    assert "3 exceptions found (3 new)" in result.stdout
    assert "warning: 10 spans of closed traces were not kept" in result.stdout
    assert rows(db, "SELECT count(*) FROM exceptions") == [(3,)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rederive", "--since", "last month"), "--since 'last month': use a duration"),
        (("rederive", "--since", "30d"), "no kept traces in"),
        (("ingest", str(SAMPLE), "--keep-traces", "--keep-traces-max", "lots"), "not a size"),
    ],
    ids=["bad-since", "nothing-kept", "bad-size"],
)
def test_mistakes_are_one_clear_error(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    db = tmp_path / "log.duckdb"
    ok("ingest", str(SAMPLE), "--db", str(db))
    result = run(*args, "--db", str(db))
    assert result.exit_code in (1, 2)
    assert message in result.output
    assert "Traceback" not in result.output


def test_out_writes_what_stdout_would_show(tmp_path: Path) -> None:
    """`-o FILE` and `--format json` as in every command; text and JSON say the same."""
    db = tmp_path / "log.duckdb"
    ingest_kept(db, SAMPLE)
    for fmt in ("text", "json"):
        args = ("rederive", "--db", str(db), "--since", ALL, "--dry-run", "--format", fmt)
        shown = ok(*args).stdout
        out = tmp_path / f"out.{fmt}"
        assert ok(*args, "-o", str(out)).stdout == f"wrote {out}\n"
        assert out.read_text() == shown
    assert "no difference" in (tmp_path / "out.text").read_text()
    assert json.loads((tmp_path / "out.json").read_text())["unchanged"] == 3


def test_a_damaged_kept_file_is_one_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "log.duckdb"
    ingest_kept(db, SAMPLE)
    (kept,) = kept_files(folder_of(db))
    kept.write_bytes(kept.read_bytes()[:100])
    result = run("rederive", "--db", str(db), "--since", ALL)
    assert result.exit_code == 1
    assert f"Error: cannot read the kept traces in {folder_of(db)}" in result.output
    assert rows(db, "SELECT count(*) FROM withdrawals") == [(0,)]


@pytest.mark.parametrize(
    ("text", "size"),
    [("2GiB", 2 << 30), ("500MiB", 500 << 20), ("1.5GB", 1_500_000_000), ("4096", 4096),
     ("64 kib", 64 << 10)],
)  # fmt: skip
def test_sizes_read_as_people_write_them(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "-1GiB", "0", "2 parsecs"])
def test_a_bad_size_says_what_a_size_looks_like(text: str) -> None:
    with pytest.raises(ValueError, match=r"use e\.g\. 2GiB"):
        parse_size(text)


def test_a_write_cut_short_is_cleaned_up(tmp_path: Path) -> None:
    """A `.part` file a crash left is removed when keeping starts again; it never counts."""
    db = tmp_path / "log.duckdb"
    folder_of(db).mkdir()
    (folder_of(db) / "20260101T000000000000Z.parquet.part").write_bytes(b"half")
    ingest_kept(db, SAMPLE)
    assert [p.suffix for p in folder_of(db).iterdir()] == [".parquet"]


def test_keeping_never_raises_into_the_write_path(tmp_path: Path) -> None:
    """A record that cannot be made a row is counted as not kept; adding it does not raise."""
    keeper = TraceKeeper(tmp_path / "log.duckdb", 1 << 20)
    odd = Span("a" * 32, "b" * 16, None, "x", "not a kind", 0, 1, StatusCode.OK)  # type: ignore[arg-type]
    keeper.add([SpanRecord(odd, {})])
    assert (keeper.failed, keeper.kept, keeper.buffered) == (1, 0, 0)
    assert keeper.last_error is not None and "ValueError" in keeper.last_error
