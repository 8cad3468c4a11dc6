"""The rule language: YAML rule files and contracts, compiled into per-span predicates.

`load_ruleset()` reads the default pack (or given folders and files) plus an
optional contracts file and returns a `RuleSet`; `RuleSet.match(fields)` gives
the `Match`es for one span's canonical fields.
"""

from __future__ import annotations

from spansift.rules._select import default_rules_dir
from spansift.rules.compile import CompiledRule, Matcher
from spansift.rules.contracts import Contract, Contracts
from spansift.rules.ruleset import RuleSet, load_ruleset

__all__ = [
    "CompiledRule",
    "Contract",
    "Contracts",
    "Matcher",
    "RuleSet",
    "default_rules_dir",
    "load_ruleset",
]
