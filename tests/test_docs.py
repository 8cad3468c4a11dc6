"""The README stays true: its rule example loads and passes its own tests, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from spansift.cli import main

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def _block(after: str, language: str) -> str:
    start = README.index(after)
    found = re.search(rf"```{language}\n(.*?)```", README[start:], re.S)
    assert found is not None
    return found.group(1)


def test_readme_rule_example_checks_and_passes_its_tests(tmp_path: Path) -> None:
    """The rule file shown under "Rules and contracts" is valid and its cases pass, as is.

    It overrides a built-in rule, which works because `--rules DIR` extends the built-in pack.
    """
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "example.yaml").write_text(_block("A rule is a few lines of YAML", "yaml"))
    runner = CliRunner()
    check = runner.invoke(main, ["rules", "check", str(rules)])
    assert check.exit_code == 0, check.output
    tested = runner.invoke(main, ["rules", "test", str(rules)])
    assert tested.exit_code == 0, tested.output
    assert "PASS payment_tool_failed (2 cases)" in tested.output
    assert "PASS search_loop (2 cases)" in tested.output


def test_readme_contracts_example_loads(tmp_path: Path) -> None:
    """The contracts file shown in the README is accepted by `rules check --contracts`."""
    contracts = tmp_path / "spansift.yaml"
    contracts.write_text(_block("## Rules and contracts", "yaml"))
    result = CliRunner().invoke(main, ["rules", "check", "--contracts", str(contracts)])
    assert result.exit_code == 0, result.output


def test_every_command_is_in_the_readme() -> None:
    """Each top-level command appears in the README's Commands table."""
    table = README[README.index("## Commands") :]
    for name in main.commands:
        listed = f"`spansift {name}" in table or re.search(rf"[`|]{name}[`| \\]", table)
        assert listed, f"`spansift {name}` is missing from the README's Commands table"


def test_every_example_the_readme_names_exists() -> None:
    """Files under examples/ that the README runs or links to are in the repository."""
    named = set(re.findall(r"examples/[\w.-]+", README))
    assert "examples/my_agent.py" in named
    missing = sorted(n for n in named if not (ROOT / n).is_file())
    assert not missing, missing
