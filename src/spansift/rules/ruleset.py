"""The loaded, compiled rule pack and the one call the pipeline makes per span.

`RuleSet.match` is pure and never raises: a rule that fails on an odd value is
counted in `runtime_errors` (and per rule in `errors_by_rule`) and skipped for
that span. Span rules are indexed by the kinds and fields their conditions need
(`_guard.RuleIndex`), so a span only pays for the rules that can match it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from spansift.errors import ConfigError
from spansift.model import AttrValue, Fields, Match, SpanRecord
from spansift.normalize._markers import AGENT_FIELDS
from spansift.rules._fields import is_raw
from spansift.rules._guard import RuleIndex
from spansift.rules._select import contracts_source, rule_sources
from spansift.rules._yaml import Problems, did_you_mean
from spansift.rules.compile import CompiledRule, Compiler
from spansift.rules.contracts import Contract, Contracts, load_contracts
from spansift.rules.load import load_pack

_NO_CONTRACT: Mapping[str, AttrValue] = {}


class RuleSet:
    """Enabled span rules in load order, with the contracts they read."""

    def __init__(
        self,
        compiled: Sequence[CompiledRule],
        contracts: Contracts | None = None,
        *,
        list_count: int = 0,
        macro_count: int = 0,
    ) -> None:
        self.all_rules: tuple[CompiledRule, ...] = tuple(compiled)
        self.rules: tuple[CompiledRule, ...] = tuple(r for r in compiled if r.spec.enabled)
        self.span_rules = tuple(r for r in self.rules if r.spec.scope == "span")
        self.trace_rules = tuple(r for r in self.rules if r.spec.scope == "trace")
        self.run_rules = tuple(r for r in self.rules if r.spec.scope == "run")
        self.contracts = contracts or Contracts(())
        self.list_count = list_count
        self.macro_count = macro_count
        self.wanted_keys: frozenset[str] = frozenset(
            field for rule in self.rules for field in rule.reads if is_raw(field)
        )
        # Every rule needs a field only agent spans give: traces no agent touched can be
        # skipped (see `spansift.sift`).
        self.agent_only = bool(self.rules) and all(
            r.condition.present is not None and r.condition.present <= AGENT_FIELDS
            for r in self.rules
        )
        self.runtime_errors = 0
        self.errors_by_rule: dict[str, int] = {}
        self._by_id = {r.id: r for r in self.all_rules}
        self._index = RuleIndex(self.span_rules)

    def __len__(self) -> int:
        return len(self.rules)

    def rules_for(self, fields: Fields) -> tuple[CompiledRule, ...]:
        """The rules that can match a span, chosen by its `span.kind`."""
        kind = fields.get("span.kind")
        return self._index.by_kind(kind if isinstance(kind, str) else None)

    def contract_for(self, fields: Fields) -> tuple[Contract | None, Mapping[str, AttrValue]]:
        """The contract matched by the span's `agent.name`, and its `contract.*` fields."""
        if not self.contracts:
            return None, _NO_CONTRACT
        return self.contracts.lookup(fields.get("agent.name"))

    def match(self, fields: Fields) -> list[Match]:
        """Every rule that fires on one span's fields. Pure; never raises."""
        out: list[Match] = []
        rules = self._index.candidates(fields)
        if not rules:
            return out
        try:
            contract, cfields = self.contract_for(fields)
        except Exception:  # a hostile agent name must not stop the pipeline
            self.runtime_errors += 1
            contract, cfields = None, _NO_CONTRACT
        for rule in rules:
            try:
                if rule.hits(fields, cfields):
                    out.append(self._match(rule, fields, cfields, contract))
            except Exception:  # counted and skipped, see module docstring
                self.runtime_errors += 1
                self.errors_by_rule[rule.id] = self.errors_by_rule.get(rule.id, 0) + 1
        return out

    def match_records(
        self, records: Sequence[SpanRecord], scope: str
    ) -> list[tuple[Match, SpanRecord]]:
        """The rules of one scope over resolved records (see `spansift.runs`). Pure; never raises.

        Span rules judge each record with the contract of its agent in effect. Trace and
        run rules aggregate per agent in effect, so each agent answers to its own contract;
        each match comes with its anchor record, whose fields carry the aggregate's values
        (`count`, `sum`, `limit`, `missing`).
        """
        if scope == "span":
            return [(m, r) for r in records for m in self.match(r.fields)]
        rules = self.trace_rules if scope == "trace" else self.run_rules
        if not rules or not records:
            return []
        by_agent: dict[object, list[SpanRecord]] = {}
        for record in records:
            by_agent.setdefault(record.fields.get("agent.name"), []).append(record)
        out: list[tuple[Match, SpanRecord]] = []
        for agent, members in by_agent.items():
            try:
                contract, cfields = self.contracts.lookup(agent)
            except Exception:  # a hostile agent name must not stop the pipeline
                self.runtime_errors += 1
                contract, cfields = None, _NO_CONTRACT
            ordered = sorted(members, key=lambda r: (r.span.start_ns, r.span.span_id, r.item))
            for rule in rules:
                if rule.aggregate is None:
                    continue
                try:
                    for anchor, extra in rule.aggregate.run(ordered, rule.hits, cfields):
                        fields = {**anchor.fields, **extra}
                        found = self._match(rule, fields, cfields, contract)
                        out.append((found, SpanRecord(anchor.span, fields, anchor.item)))
                except Exception:  # counted and skipped, see module docstring
                    self.runtime_errors += 1
                    self.errors_by_rule[rule.id] = self.errors_by_rule.get(rule.id, 0) + 1
        return out

    def explain(self, rule_id: str) -> str:
        """The compiled condition of a rule, exceptions included, on one readable line."""
        rule = self._by_id.get(rule_id)
        if rule is None:
            msg = f"no rule '{rule_id}'; {did_you_mean(rule_id, self._by_id)}".rstrip("; ")
            raise KeyError(msg)
        return rule.explain()

    def fingerprints(self) -> dict[str, list[str]]:
        """{rule id: fingerprint fields} for the rules that set `fingerprint:`."""
        return {r.id: list(r.spec.fingerprint) for r in self.all_rules if r.spec.fingerprint}

    def rule(self, rule_id: str) -> CompiledRule | None:
        """A rule by id, enabled or not."""
        return self._by_id.get(rule_id)

    @staticmethod
    def _match(
        rule: CompiledRule, fields: Fields, cfields: Fields, contract: Contract | None
    ) -> Match:
        spec = rule.spec
        owner = contract.owner if contract is not None and contract.owner else spec.owner
        return Match(
            rule_id=spec.id,
            exception_type=spec.exception.value,
            severity=spec.severity,
            boundary=spec.boundary,
            summary=rule.summary(fields, cfields),
            owner=owner,
            follow_up=spec.follow_up.value if spec.follow_up else None,
            contain=spec.contain,
            controls=spec.controls,
        )


def load_ruleset(
    paths: Sequence[str | Path] | None = None,
    contracts: str | Path | Mapping[str, object] | None = None,
    *,
    default_rules: bool = True,
) -> RuleSet:
    """Load, validate and compile the built-in pack, rule files extending it, and contracts.

    A path may be a folder (its *.yaml / *.yml files in name order) or a file; it is
    loaded after the built-in pack, so it may `override:` a built-in rule.
    `default_rules=False` loads `paths` alone. `contracts=None` reads `./spansift.yaml`
    when present (`{}` for none). Raises `ConfigError` carrying every problem found.
    """
    problems = Problems()
    pack = load_pack(rule_sources(paths, default_rules=default_rules), problems)
    source = contracts_source(contracts)
    loaded = load_contracts(source, problems) if source is not None else None
    compiler = Compiler(pack, problems)
    compiled = compiler.rules()
    if problems:
        raise ConfigError(problems.in_order())
    return RuleSet(
        compiled, loaded, list_count=len(compiler.lists), macro_count=len(compiler.macros)
    )
