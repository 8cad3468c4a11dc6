"""Owner routing: who owns an exception, from a short list of glob rules (first match wins).

    owners:
      - match: {workflow: "billing-*"}
        owner: billing-team@example.com
      - match: {agent: support-agent, tool: refund_*}
        owner: payments-oncall

Every key of `match` must hold (`workflow`, `agent`, `tool`, `exception_type`, globs as in
`fnmatch`). The list lives in its own file (`--owners FILE`) or under `owners:` in
`spansift.yaml`. Routing is applied when a row is written (`ExceptionLog.route_owner`), so
`ls`, the review and the page show the same owner. An owner assigned by a decision wins
over routing; the owner of the rule or contract is the fallback.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from spansift.errors import SpansiftError

MATCH_FIELDS = ("workflow", "agent", "tool", "exception_type")


@dataclass(frozen=True, slots=True)
class OwnerRule:
    """One routing rule: every (field, glob) pair must match."""

    match: tuple[tuple[str, str], ...]
    owner: str

    def matches(self, row: Mapping[str, Any]) -> bool:
        return all(
            fnmatch.fnmatchcase(str(row.get(field) or ""), pattern) for field, pattern in self.match
        )


def parse_owners(doc: Any, where: str) -> tuple[OwnerRule, ...]:
    """Routing rules from the parsed `owners:` list; `SpansiftError` names the bad entry."""
    if doc is None:
        return ()
    if not isinstance(doc, list):
        msg = f"{where}: 'owners' must be a list of {{match: {{...}}, owner: ...}}"
        raise SpansiftError(msg)
    rules: list[OwnerRule] = []
    for number, entry in enumerate(doc, 1):
        label = f"{where}: owners entry {number}"
        if not isinstance(entry, dict) or set(entry) != {"match", "owner"}:
            msg = f"{label} needs exactly the keys 'match' and 'owner'"
            raise SpansiftError(msg)
        match, owner = entry["match"], entry["owner"]
        if not isinstance(owner, str) or not owner:
            msg = f"{label}: 'owner' must be a non-empty string"
            raise SpansiftError(msg)
        if not isinstance(match, dict) or not match:
            msg = f"{label}: 'match' must map fields ({', '.join(MATCH_FIELDS)}) to globs"
            raise SpansiftError(msg)
        for field, pattern in match.items():
            if field not in MATCH_FIELDS or not isinstance(pattern, str):
                msg = f"{label}: match key {field!r} must be one of {', '.join(MATCH_FIELDS)}"
                raise SpansiftError(msg)
        rules.append(OwnerRule(tuple(match.items()), owner))
    return tuple(rules)


def load_section(path: str | Path, key: str) -> Any:
    """The `key:` section of a YAML file (None when the file has none)."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        msg = f"cannot read {path}: {exc}"
        raise SpansiftError(msg) from None
    return doc.get(key) if isinstance(doc, dict) else None


def load_owners(path: str | Path) -> tuple[OwnerRule, ...]:
    """Routing rules from the `owners:` section of a YAML file."""
    return parse_owners(load_section(path, "owners"), str(path))


def route(rules: Sequence[OwnerRule], row: Mapping[str, Any]) -> str | None:
    """The owner of the first rule that matches `row`, else None."""
    for rule in rules:
        if rule.matches(row):
            return rule.owner
    return None


def router(rules: Sequence[OwnerRule]) -> Callable[[Mapping[str, Any]], str | None] | None:
    """For `ExceptionLog.route_owner`: the first matching rule's owner (None: no rules)."""
    return partial(route, tuple(rules)) if rules else None
