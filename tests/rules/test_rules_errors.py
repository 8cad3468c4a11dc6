"""Bad rule and contract files: each reports its error code at the right file:line:col."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spansift.errors import ConfigError
from spansift.rules import load_ruleset

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rules"
BAD = sorted((FIXTURES / "bad").glob("*.yaml"))
BAD_CONTRACTS = sorted((FIXTURES / "bad_contracts").glob("*.yaml"))


def _expected(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} lacks its '# expect:' line"
    return first.removeprefix("# expect: ")


def _first_line(error: ConfigError) -> str:
    return str(error.problems[0]).splitlines()[0]


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in BAD])
def test_bad_rule_file(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad rule file fails to load and its first problem is the line stored in the file."""
    monkeypatch.chdir(path.parent)
    with pytest.raises(ConfigError) as caught:
        load_ruleset([path.name], default_rules=False)
    assert _first_line(caught.value) == _expected(path)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in BAD_CONTRACTS])
def test_bad_contracts_file(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad contracts file fails to load and its first problem is the line stored in the file."""
    monkeypatch.chdir(path.parent)
    with pytest.raises(ConfigError) as caught:
        load_ruleset(["../ok.yaml"], contracts=path.name, default_rules=False)
    assert _first_line(caught.value) == _expected(path)


SOURCE = Path(__file__).parents[2] / "src" / "spansift" / "rules"


def test_every_error_code_has_a_fixture() -> None:
    """Each problem code the loader's source names has one bad fixture file that shows it."""
    codes = {_expected(p).split(": ")[1] for p in BAD + BAD_CONTRACTS}
    source = "\n".join(p.read_text() for p in SOURCE.glob("*.py"))
    # A missing file cannot be a fixture file; test_rules_errors covers those codes by path.
    wanted = {
        code
        for code in re.findall(r'"((?:RULE|CONTRACT)_[A-Z_]+)"', source)
        if not code.endswith("_FILE_NOT_FOUND")
    }
    assert wanted <= codes, sorted(wanted - codes)


def test_all_errors_in_a_file_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four mistakes in one file give four problems, in file order, with did-you-mean hints."""
    monkeypatch.chdir(FIXTURES / "bad")
    with pytest.raises(ConfigError) as caught:
        load_ruleset(["multiple.yaml"], default_rules=False)
    problems = caught.value.problems
    assert [(p.origin.line, p.code) for p in problems] == [
        (6, "RULE_UNKNOWN_EXCEPTION_TYPE"),
        (7, "RULE_UNKNOWN_SEVERITY"),
        (12, "RULE_UNKNOWN_MODIFIER"),
        (18, "RULE_UNKNOWN_MACRO"),
    ]
    assert [p.hint for p in problems[:3]] == [
        "did you mean 'tool_error'?",
        "did you mean 'high'?",
        "did you mean 'contains'?",
    ]


def test_errors_in_several_files_are_collected(tmp_path: Path) -> None:
    """Problems from two files and a missing path are raised together in one ConfigError."""
    (tmp_path / "a.yaml").write_text("spansift_rules: 1\nitems: [{rule: a}]\n")
    (tmp_path / "b.yaml").write_text("spansift_rules: 3\nitems: []\n")
    with pytest.raises(ConfigError) as caught:
        load_ruleset([tmp_path, tmp_path / "nope.yaml"], default_rules=False)
    codes = [p.code for p in caught.value.problems]
    assert codes == ["RULE_FILE_NOT_FOUND", "RULE_MISSING_KEY", "RULE_BAD_VERSION"]


def test_misspelt_field_is_an_error_but_other_dotted_keys_are_raw(tmp_path: Path) -> None:
    """'tool.nam' is rejected as a misspelling; 'myapp.tenant' is accepted as a raw key."""
    rule = (
        "spansift_rules: 1\nitems:\n  - rule: r\n    exception: tool_error\n    severity: low\n"
        "    boundary: b\n    summary: s\n    when: {%s: x}\n"
    )
    (tmp_path / "ok.yaml").write_text(rule % "myapp.tenant")
    assert load_ruleset([tmp_path / "ok.yaml"], default_rules=False).wanted_keys == {"myapp.tenant"}
    (tmp_path / "bad.yaml").write_text(rule % "tool.nam")
    with pytest.raises(ConfigError) as caught:
        load_ruleset([tmp_path / "bad.yaml"], default_rules=False)
    assert caught.value.problems[0].hint == "did you mean 'tool.name'?"


def test_a_spansift_yaml_of_owners_alone_is_not_a_contracts_error(tmp_path: Path) -> None:
    """`./spansift.yaml` is read by every entry point; routing owners alone is a valid file."""
    path = tmp_path / "spansift.yaml"
    path.write_text("owners:\n  - match: {workflow: support}\n    owner: ops@example.com\n")
    ruleset = load_ruleset(None, path)
    assert ruleset.contracts.signals == ()
