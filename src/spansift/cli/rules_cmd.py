"""`spansift rules`: check rule files and contracts, run the tests rules carry, explain a rule."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click

from spansift.cli._common import no_default_rules_option
from spansift.errors import ConfigError, Problem
from spansift.rules import RuleSet, load_ruleset
from spansift.rules._select import CONTRACTS_FILE, contracts_source, describe
from spansift.rules.cases import run_cases

_DIRS = click.argument("dirs", nargs=-1, type=click.Path(path_type=str))
_CONTRACTS = click.option(
    "--contracts",
    type=click.Path(path_type=str),
    help=f"Agent contracts YAML file [default: ./{CONTRACTS_FILE} if present].",
)


@click.group()
def rules() -> None:
    """Check, test and explain rules: the built-in pack plus the folders or files given."""


@rules.command()
@_DIRS
@_CONTRACTS
@no_default_rules_option
@click.option("--json", "as_json", is_flag=True, help="Print problems as a JSON list.")
@click.option("--verbose", "-v", is_flag=True, help="Show the offending line with a caret.")
def check(
    dirs: tuple[str, ...],
    contracts: str | None,
    no_default_rules: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Validate rule files in DIRS (folders or files), beside the built-in pack, and contracts."""
    ruleset = _load(dirs, contracts, no_default_rules, as_json=as_json, verbose=verbose)
    if as_json:
        click.echo("[]")
        return
    source = contracts_source(contracts)
    with_contracts = f", contracts {source}" if source is not None else ""
    click.echo(
        f"ok: {len(ruleset)} rules, {ruleset.list_count} lists, "
        f"{ruleset.macro_count} macros in {_where(dirs, no_default_rules)}{with_contracts}"
    )


@rules.command(name="test")
@_DIRS
@_CONTRACTS
@no_default_rules_option
def test_cmd(dirs: tuple[str, ...], contracts: str | None, no_default_rules: bool) -> None:
    """Run the test cases of every rule loaded (see `check`); exit 1 when any case fails."""
    ruleset = _load(dirs, contracts, no_default_rules)
    cases = passed = 0
    for rule_id, results in run_cases(ruleset).items():
        failed = [r for r in results if not r.passed]
        cases += len(results)
        passed += len(results) - len(failed)
        if not results:
            click.echo(f"SKIP {rule_id} (no cases)")
            continue
        click.echo(f"{'FAIL' if failed else 'PASS'} {rule_id} ({_count(len(results), 'case')})")
        for result in failed:
            click.echo(f"  {result.case.origin}: {result.detail}")
    failures = cases - passed
    click.echo(
        f"{_count(len(ruleset.all_rules), 'rule')}, {_count(cases, 'case')}: "
        f"{passed} passed, {failures} failed"
    )
    if failures:
        raise SystemExit(1)


@rules.command()
@click.argument("rule_id")
@click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(path_type=str),
    help="Rules folder or file, loaded after the built-in pack; repeatable.",
)
@_CONTRACTS
@no_default_rules_option
def explain(
    rule_id: str, rule_dirs: tuple[str, ...], contracts: str | None, no_default_rules: bool
) -> None:
    """Print RULE_ID's compiled condition, exceptions included, on one line."""
    ruleset = _load(rule_dirs, contracts, no_default_rules)
    try:
        click.echo(ruleset.explain(rule_id))
    except KeyError as exc:
        click.echo(f"Error: {exc.args[0]} (in {_where(rule_dirs, no_default_rules)})", err=True)
        raise SystemExit(1) from None


def _load(
    dirs: Sequence[str],
    contracts: str | None,
    no_default_rules: bool,
    *,
    as_json: bool = False,
    verbose: bool = False,
) -> RuleSet:
    try:
        return load_ruleset(list(dirs), contracts, default_rules=not no_default_rules)
    except ConfigError as exc:
        if as_json:
            click.echo(json.dumps([_as_dict(p) for p in exc.problems], indent=2))
        else:
            sources: dict[str, list[str]] = {}
            for problem in exc.problems:
                click.echo(_describe(problem, sources if verbose else None))
        count = len(exc.problems)
        click.echo(
            f"Error: {count} problem{'s' if count != 1 else ''} in rules or contracts; "
            "fix the files named above",
            err=True,
        )
        raise SystemExit(1) from None


def _describe(problem: Problem, sources: dict[str, list[str]] | None) -> str:
    """`file:line:col: CODE: message`; verbose adds the source line and a caret; then the hint."""
    lines = [f"{problem.origin}: {problem.code}: {problem.message}"]
    origin = problem.origin
    if sources is not None and origin.line:
        if origin.path not in sources:
            try:
                text = Path(origin.path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = ""
            sources[origin.path] = text.splitlines()
        source = sources[origin.path]
        if origin.line <= len(source):
            lines.append("    " + source[origin.line - 1].rstrip())
            lines.append("    " + " " * max(origin.col - 1, 0) + "^")
    if problem.hint:
        lines.append(f"  hint: {problem.hint}")
    return "\n".join(lines)


def _as_dict(problem: Problem) -> dict[str, object]:
    origin = problem.origin
    return {
        "path": origin.path,
        "line": origin.line,
        "col": origin.col,
        "code": problem.code,
        "message": problem.message,
        "hint": problem.hint,
    }


def _where(dirs: Sequence[str], no_default_rules: bool) -> str:
    return describe(dirs, default_rules=not no_default_rules)


def _count(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"
