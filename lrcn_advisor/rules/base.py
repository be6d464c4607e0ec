"""The rule registry: each rule is one definition that docs, `explain`, SARIF and reports read."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from lrcn_advisor.edits import Edit
from lrcn_advisor.ir import ModelIR
from lrcn_advisor.vocabulary import GuideSection, Severity


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    description: str


@dataclass(frozen=True)
class CheckContext:
    """What a check gets (as ruff hands `&Checker` to a rule): the analysed model, the rule's
    options, and `recount(edit)`, the edited architecture analysed under the same options (None when
    the edit does not apply)."""

    ir: ModelIR
    options: Mapping[str, Any]
    recount: Callable[[Edit], ModelIR | None]


@dataclass
class Hit:
    """What a check returns: the rule's evidence at one place in the model."""

    layers: list[str]
    message: str
    fix: str
    evidence: dict[str, Any] = field(default_factory=dict)
    edit: Edit | None = None
    severity: Severity | None = None  # a check may lower or raise its default for this hit
    # other ways to fix the same problem, tried in order when `edit` would make another rule fire
    alternatives: list[tuple[str, Edit]] = field(default_factory=list)


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    title: str
    section: GuideSection  # the guide section the rule encodes
    severity: Severity
    guide: str          # the guide section the rule encodes
    rationale: str
    fix: str
    example: str
    options: tuple[Option, ...]
    probe: str | None
    check: Callable[[CheckContext], Iterable[Hit]]

    def defaults(self) -> dict[str, Any]:
        return {option.name: option.default for option in self.options}


REGISTRY: dict[str, Rule] = {}

# Rules that push the same knob in opposite directions: a fix for the key must never make one of
# its values fire (and the other way round), or the advice would go in circles.
OPPOSITES: dict[str, frozenset[str]] = {
    "POL001": frozenset({"POL005", "POL002", "LST003"}),
    "POL002": frozenset({"POL005", "CNV001"}),
    "POL005": frozenset({"POL001", "POL002"}),
    "CNV001": frozenset({"POL001", "POL002"}),
    "LST003": frozenset({"POL001", "LST008"}),
    "DRP001": frozenset({"DRP002", "DRP004", "DRP003"}),
    "DRP002": frozenset({"DRP001", "DRP004", "DRP006"}),
    "DRP003": frozenset({"DRP001", "DRP004", "DRP006"}),
    "DRP004": frozenset({"DRP001", "DRP002", "DRP003"}),
    "DRP006": frozenset({"DRP002", "DRP003"}),
    "LST001": frozenset({"LST007"}),
    "LST006": frozenset({"LST007"}),
    "LST007": frozenset({"LST003", "LST008"}),
    "LST008": frozenset({"LST003", "LST007"}),
}


def rule(*, id: str, name: str, title: str, section: str, severity: str, guide: str, rationale: str,
         fix: str, example: str, probe: str | None = None, options: tuple[Option, ...] = ()):
    """Register `check` as rule `id`; ids are stable and never reused."""
    assert id not in REGISTRY, id

    def register(check):
        REGISTRY[id] = Rule(id=id, name=name, title=title, section=GuideSection(section),
                            severity=Severity(severity),
                            guide=guide, rationale=" ".join(rationale.split()), fix=" ".join(fix.split()),
                            example=example.strip(), options=options, probe=probe, check=check)
        return check
    return register
