"""Which rule files and which contracts file a run loads: the one answer every entry uses.

`spansift rules check|test|explain`, `ingest`, `serve` and `ExceptionLogProcessor`
all call `load_ruleset`, which asks this module. User rules *extend* the built-in
pack (so a user file may `override:` a built-in rule) unless the caller turns the
pack off; a contracts file not named explicitly is `./spansift.yaml` when present.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

CONTRACTS_FILE = "spansift.yaml"

ContractsSource = str | Path | Mapping[str, object]


def default_rules_dir() -> Path:
    """The default pack: the wheel's `spansift/default_rules`, else the repository's `rules/`."""
    installed = Path(__file__).resolve().parent.parent / "default_rules"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[3] / "rules"


def rule_sources(
    paths: Sequence[str | Path] | None, *, default_rules: bool = True
) -> list[str | Path]:
    """The built-in pack (unless `default_rules` is False), then `paths` in the order given.

    A path naming the built-in pack, or a file inside it, is skipped when the pack is
    already loaded: `spansift rules check rules/` must not see every rule twice.
    """
    chosen: list[str | Path] = []
    pack = default_rules_dir().resolve()
    if default_rules:
        chosen.append(default_rules_dir())
    for path in paths or ():
        if default_rules and _inside(Path(path), pack):
            continue
        chosen.append(path)
    return chosen


def _inside(path: Path, folder: Path) -> bool:
    try:
        resolved = path.resolve()
    except OSError:
        return False  # the loader reports the path itself
    return resolved == folder or folder in resolved.parents


def contracts_source(contracts: ContractsSource | None) -> ContractsSource | None:
    """`contracts` as given; None means `./spansift.yaml` when present; `{}` means none."""
    if contracts is None:
        return CONTRACTS_FILE if Path(CONTRACTS_FILE).is_file() else None
    if isinstance(contracts, Mapping) and not contracts:
        return None
    return contracts


def describe(paths: Sequence[str | Path] | None, *, default_rules: bool = True) -> str:
    """Where rules come from, for messages: `.../rules (built-in) + my-rules`."""
    parts = [str(p) for p in rule_sources(paths, default_rules=default_rules)]
    if default_rules and parts:
        parts[0] += " (built-in)"
    return " + ".join(parts) or "no rule files"
