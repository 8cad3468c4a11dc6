"""Recall and precision of the default pack on the labelled corpora, per stack, type and source.

Every corpus in tests/fixtures/corpus/<stack>/ holds recorded runs of one agent stack
(`<scenario>.json`, OTLP/JSON), the labels written from what each run did
(`labels.yaml`) and the contracts file a newcomer would write (`spansift.yaml`). Each run
goes through the whole pipeline (default pack + that contracts file, every rule, traces and
runs closed at the end) and the exception types found are compared with the labels: a
(run, type) pair is a true positive, a false positive or a false negative.

    python bench/quality.py                      # figures per stack, type and source
    python bench/quality.py --why                # plus every miss and false alarm
    python bench/quality.py --stack langgraph    # one corpus
    python bench/quality.py --write-coverage docs/coverage.md
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spansift.pipeline import Pipeline
from spansift.rules import RuleSet, load_ruleset
from spansift.sift import Sifter
from spansift.sources.otlp_json import parse_json

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures"
CORPUS = FIXTURES / "corpus"
# The first, smaller fixture set (one run per scenario of four stacks) counts as a corpus too.
EARLY = FIXTURES / "frameworks"
SOURCES = ("framework", "contract", "app")


@dataclass
class Run:
    """One labelled run and what the pack found in it."""

    stack: str
    name: str
    did: str
    expected: dict[str, str]  # type -> source
    found: set[str] = field(default_factory=set)
    how: list[tuple[str, str, str]] = field(default_factory=list)  # (type, rule, span name)


def stacks(root: Path = CORPUS) -> list[Path]:
    """Corpus folders, by name (and the early fixture set, last)."""
    found = sorted(p for p in root.iterdir() if (p / "labels.yaml").is_file())
    return [*found, EARLY] if root == CORPUS else found


def labels(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((folder / "labels.yaml").read_text())
    return loaded


def evaluate(folder: Path) -> list[Run]:
    """Every labelled run of one corpus through the pipeline."""
    info = labels(folder)
    contracts = folder / "spansift.yaml"
    ruleset: RuleSet = load_ruleset(None, contracts if contracts.is_file() else None)
    out: list[Run] = []
    for name, scenario in info["scenarios"].items():
        expected = {e["type"]: e.get("source", "framework") for e in scenario["expected"] or ()}
        run = Run(folder.name, name, str(scenario.get("did", "")), expected)
        pipeline = Pipeline(ruleset)
        spans = parse_json((folder / f"{name}.json").read_bytes())
        if ruleset.agent_only:  # as every source does: traces no agent touched are skipped
            spans = Sifter(ruleset.contracts.signals).spans(spans)
        hits = pipeline.spans(spans)
        hits += pipeline.finish()
        run.found = {h.match.exception_type for h in hits}
        run.how = sorted({(h.match.exception_type, h.match.rule_id, h.span.name) for h in hits})
        out.append(run)
    return out


def counts(runs: Iterable[Run], key: Any) -> dict[Any, list[int]]:
    """key(run, type, source) -> [tp, fp, fn] over (run, type) pairs."""
    out: dict[Any, list[int]] = defaultdict(lambda: [0, 0, 0])
    for run in runs:
        for kind in set(run.expected) | run.found:
            source = run.expected.get(kind, "-")
            cell = out[key(run, kind, source)]
            if kind in run.expected and kind in run.found:
                cell[0] += 1
            elif kind in run.found:
                cell[1] += 1
            else:
                cell[2] += 1
    return out


def _total(runs: Iterable[Run]) -> list[int]:
    """[tp, fp, fn] over every (run, type) pair."""
    cell = counts(runs, lambda r, k, s: 0).get(0, [0, 0, 0])
    return list(cell)


def _line(label: str, tp: int, fp: int, fn: int, width: int = 26) -> str:
    recall = tp / (tp + fn) if tp + fn else float("nan")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    return f"{label:{width}} {recall:7.2f} {precision:9.2f} {tp:5} {fp:4} {fn:4}"


def _table(title: str, rows: dict[Any, list[int]]) -> list[str]:
    out = [f"{title:26} {'recall':>7} {'precision':>9} {'tp':>5} {'fp':>4} {'fn':>4}"]
    out += [_line(str(k), *v) for k, v in sorted(rows.items(), key=lambda kv: str(kv[0]))]
    return out


def report(runs: list[Run], *, why: bool = False) -> str:
    if not runs:
        return "no runs\n"
    lines = _table("stack", counts(runs, lambda r, k, s: r.stack))
    lines.append(_line("all", *_total(runs)))
    lines.append("")
    lines += _table("type", counts(runs, lambda r, k, s: k))
    lines.append("")
    recall = counts(runs, lambda r, k, s: s)
    lines.append(f"{'signal source':26} {'recall':>7} {'':9} {'tp':>5} {'':4} {'fn':>4}")
    for source in SOURCES:
        tp, _, fn = recall.get(source, [0, 0, 0])
        share = tp / (tp + fn) if tp + fn else float("nan")
        lines.append(f"{source:26} {share:7.2f} {'':9} {tp:5} {'':4} {fn:4}")
    clean = [r for r in runs if not r.expected]
    noisy = [r for r in clean if r.found]
    lines.append("")
    lines.append(
        f"runs: {len(runs)}; clean runs: {len(clean)}, with a false exception: {len(noisy)}"
    )
    if why:
        lines.append("")
        for run in runs:
            missed = sorted(set(run.expected) - run.found)
            extra = sorted(run.found - set(run.expected))
            if missed or extra:
                shown = "; ".join(f"{k} by {rule} on {span!r}" for k, rule, span in run.how)
                lines.append(
                    f"{run.stack}/{run.name}: missed {missed or '-'}, false {extra or '-'}"
                    f"  [{shown or 'nothing found'}]"
                )
    return "\n".join(lines) + "\n"


TYPES = (
    "tool_error", "unknown_tool", "wrong_tool", "approval_denied", "approval_pending",
    "approval_escalated", "approval_bypassed", "human_override", "guardrail_tripped",
    "policy_violation", "handoff_to_human", "rollback", "runaway_loop", "cost_cap",
)  # fmt: skip


def coverage(runs: list[Run], root: Path = CORPUS) -> str:
    """docs/coverage.md: per stack and exception type, what the corpus shows."""
    out = [
        "# Coverage per agent stack",
        "",
        "Generated by `python bench/quality.py --write-coverage docs/coverage.md` from the",
        "labelled corpora in `tests/fixtures/corpus/` (real framework runs recorded offline with",
        "scripted models; labels written from what each run did). A test fails when this file is",
        "stale. Per cell: runs of that type found / labelled, the sources of the labels, the runs",
        "missed and the runs where the type was reported falsely.",
        "",
    ]
    by_stack: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_stack[run.stack].append(run)
    for stack, members in sorted(by_stack.items()):
        info = labels(EARLY if stack == EARLY.name else root / stack)
        tp, fp, fn = _total(members)
        out += [
            f"## {info.get('title', stack)} (`{stack}`)",
            "",
            f"{len(members)} runs; recall {tp / max(tp + fn, 1):.2f}, "
            f"precision {tp / max(tp + fp, 1):.2f}.",
            "",
            "| exception type | found | notes |",
            "| --- | --- | --- |",
        ]
        for kind in TYPES:
            out.append(f"| {kind} | {_cell(members, kind, info)} |")
        out.append("")
    return "\n".join(out)


def _cell(runs: list[Run], kind: str, info: dict[str, Any]) -> str:
    labelled = [r for r in runs if kind in r.expected]
    found = [r for r in labelled if kind in r.found]
    false = [r.name for r in runs if kind in r.found and kind not in r.expected]
    missed = [r.name for r in labelled if kind not in r.found]
    sources = sorted({r.expected[kind] for r in labelled})
    notes = []
    if sources:
        notes.append("from " + ", ".join(sources))
    if missed:
        notes.append("missed: " + ", ".join(missed))
    if false:
        notes.append("false: " + ", ".join(false))
    reason = (info.get("not_recordable") or {}).get(kind)
    if reason:
        notes.append("not recordable: " + " ".join(str(reason).split()))
    count = f"{len(found)}/{len(labelled)}" if labelled else "-"
    return f"{count} | " + ("; ".join(notes).replace("|", "\\|") or "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", action="append", help="only these corpora")
    parser.add_argument("--why", action="store_true", help="list every miss and false alarm")
    parser.add_argument("--write-coverage", type=Path, help="write the coverage table here")
    args = parser.parse_args()
    runs = [
        run for folder in stacks() if not args.stack or folder.name in args.stack
        for run in evaluate(folder)
    ]  # fmt: skip
    print(report(runs, why=args.why), end="")
    if args.write_coverage:
        args.write_coverage.write_text(coverage(runs))
        print(f"wrote {args.write_coverage}")


if __name__ == "__main__":
    main()
