"""The `controls:` key of a rule: which published controls a row of the rule evidences.

A control is written `framework:id`. Four frameworks are checked against their published
identifiers (see docs/controls.md for the texts and what each mapping claims):

    owasp-asi:ASI01 .. ASI10      OWASP Top 10 for Agentic Applications (2026)
    maestro:L1 .. L7              CSA MAESTRO layers
    nist-ai-rmf:MEASURE-2.4       NIST AI RMF 1.0 functions (GOVERN, MAP, MEASURE, MANAGE),
                                  categories (MANAGE-4) and subcategories (MANAGE-4.1)
    eu-ai-act:art12, art14(4)     EU AI Act articles, optionally with paragraph and point

Any other `name:id` is a control of the user's own (an internal catalogue, SOC 2, ...) and is
taken as written, as long as both parts are plain words and the name is not a near-miss of
one of the four.
"""

from __future__ import annotations

import difflib
import re

from spansift.rules._yaml import Node, Reader, did_you_mean

# Subcategories per category of NIST AI RMF 1.0 (AI 100-1, Tables 1-4).
_NIST_SUBCATEGORIES = {
    "GOVERN": {1: 7, 2: 3, 3: 2, 4: 3, 5: 2, 6: 2},
    "MAP": {1: 6, 2: 3, 3: 5, 4: 2, 5: 2},
    "MEASURE": {1: 3, 2: 13, 3: 3, 4: 3},
    "MANAGE": {1: 4, 2: 4, 3: 2, 4: 3},
}
FRAMEWORKS = ("owasp-asi", "maestro", "nist-ai-rmf", "eu-ai-act")
_OWASP = tuple(f"ASI{n:02d}" for n in range(1, 11))
_MAESTRO = tuple(f"L{n}" for n in range(1, 8))
_NIST = re.compile(r"(GOVERN|MAP|MEASURE|MANAGE)(?:-(\d+)(?:\.(\d+))?)?")
_EU = re.compile(r"art(\d+)(?:\((\d+)\))?(?:\(([a-z])\))?")
_WORD = re.compile(r"[a-z0-9][a-z0-9.-]*")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.()-]*")
EU_ARTICLES = 113  # Regulation (EU) 2024/1689 has Articles 1 to 113


def _nist_ok(text: str) -> bool:
    found = _NIST.fullmatch(text)
    if found is None:
        return False
    function, category, sub = found.groups()
    categories = _NIST_SUBCATEGORIES[function]
    if category is None:
        return True
    count = categories.get(int(category))
    return count is not None and (sub is None or 1 <= int(sub) <= count)


def _eu_ok(text: str) -> bool:
    found = _EU.fullmatch(text)
    return found is not None and 1 <= int(found.group(1)) <= EU_ARTICLES


def check_control(control: str) -> str | None:
    """None when `control` is well formed, else what is wrong with it (for a hint)."""
    framework, sep, ident = control.partition(":")
    near = difflib.get_close_matches(framework, FRAMEWORKS, n=1, cutoff=0.75)
    if near and near[0] != framework:
        return f"did you mean '{near[0]}'?"  # a typo must not become a framework of its own
    if not sep or not _WORD.fullmatch(framework) or not _ID.fullmatch(ident):
        return "write a control as framework:id, e.g. owasp-asi:ASI02 or eu-ai-act:art14"
    if framework == "owasp-asi" and ident not in _OWASP:
        return did_you_mean(ident, _OWASP) or "use ASI01 .. ASI10"
    if framework == "maestro" and ident not in _MAESTRO:
        return "MAESTRO has layers L1 .. L7"
    if framework == "nist-ai-rmf" and not _nist_ok(ident):
        return "use a function, category or subcategory of AI RMF 1.0, e.g. MANAGE-4.1"
    if framework == "eu-ai-act" and not _eu_ok(ident):
        return f"use an article of the AI Act, art1 .. art{EU_ARTICLES}, e.g. art14(4)"
    return None


def parse_controls(reader: Reader, node: Node) -> tuple[str, ...]:
    """The controls listed at `node`; every bad one is reported where it stands."""
    out: list[str] = []
    for control in reader.strings(node, "'controls'"):
        problem = check_control(control)
        if problem is None:
            if control not in out:
                out.append(control)
            continue
        reader.add(node, "RULE_BAD_CONTROL", f"control '{control}' is not valid", problem)
    return tuple(out)
