"""Findings and the analysis result that reports render."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterable

from .edits import Edit
from .ir import ModelIR
from .vocabulary import FailOn, GuideSection, Severity


@dataclass
class CostEffect:
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    introduces: list[str] = field(default_factory=list)  # findings the edited model would newly get
    saving_from: str = ""     # where the saving comes from, when not from the finding's own layers

    def as_dict(self) -> dict:
        return {"params_before": self.params_before, "params_after": self.params_after,
                "macs_before": self.macs_before, "macs_after": self.macs_after,
                "introduces": list(self.introduces), "saving_from": self.saving_from}


@dataclass
class Finding:
    rule: str                 # rule id, e.g. POL001
    name: str                 # rule short name, e.g. feature-map-collapse
    severity: Severity
    section: GuideSection     # the guide section of the rule (conv | pooling | dropout | lstm | model)
    layers: list[str]
    message: str
    fix: str
    evidence: dict[str, Any] = field(default_factory=dict)
    edit: Edit | None = None  # the fix as an architecture change (probes train it)
    probe: str | None = None  # the rule's probe kind (lrcn_advisor.probes.kinds), so probes need no catalogue
    cost: CostEffect | None = None
    suppressed: str = ""      # reason, when a suppression in config matched
    in_baseline: bool = False

    def fingerprint(self, model_path: str) -> str:
        """Stable across reordering: rule + model path + layer names."""
        key = "\x1f".join([self.rule, model_path.replace("\\", "/"), *sorted(self.layers)])
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass
class Result:
    """One model's analysis: the IR, its findings and (optionally) probe results."""

    ir: ModelIR
    findings: list[Finding]
    sha256: str = ""
    display_path: str = ""     # repo-relative path used in reports
    probes: Any = None         # lrcn_advisor.probes result, when probes ran
    budget_failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the analysis' and the rule stage's

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if not f.suppressed and not f.in_baseline]

    def counts(self) -> dict[str, int]:
        counts = {severity.value: 0 for severity in Severity}
        for finding in self.active:
            counts[finding.severity] += 1
        return counts


@dataclass(frozen=True)
class Gate:
    """The pass/fail verdict of a run, computed once (`Gate.of`) and handed to every renderer.

    A run fails when an active finding (not suppressed, not in the baseline) is at or above
    `fail_on`, or when a model exceeds a parameter or MAC budget."""

    fail_on: FailOn
    failing: frozenset[str] = frozenset()  # fingerprints of the findings that fail the gate
    reasons: tuple[str, ...] = ()          # one line per failing finding and per exceeded budget

    @property
    def failed(self) -> bool:
        return bool(self.reasons)

    @property
    def passed(self) -> bool:
        return not self.reasons

    def fails(self, fingerprint: str) -> bool:
        """Whether the finding with this fingerprint is one that fails the gate."""
        return fingerprint in self.failing

    @classmethod
    def of(cls, results: Iterable[Result], fail_on: FailOn | str = FailOn.ERROR) -> Gate:
        level = FailOn(fail_on)
        failing: set[str] = set()
        reasons: list[str] = []
        for result in results:
            where = result.display_path or result.ir.path
            for finding in result.active:
                if level.fails(finding.severity):
                    failing.add(finding.fingerprint(where))
                    reasons.append(f"{where}: {finding.severity} {finding.rule} {finding.name} "
                                   f"[{', '.join(finding.layers) or 'model'}]: {finding.message}")
            reasons += [f"{where}: {failure}" for failure in result.budget_failures]
        return cls(level, frozenset(failing), tuple(reasons))
