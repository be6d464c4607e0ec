"""Run the rule catalogue over a ModelIR: findings with their fixes' cost effects.

The engine never analyses a model itself: the orchestrator hands it `recount`, which analyses an
edited architecture. It returns new values and never writes into the IR.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from lrcn_advisor.config import Settings
from lrcn_advisor.edits import Edit
from lrcn_advisor.errors import InputError
from lrcn_advisor.ir import ModelIR
from lrcn_advisor.result import CostEffect, Finding
from lrcn_advisor.vocabulary import Severity

from .base import REGISTRY, CheckContext, Hit, Rule

Recount = Callable[[Edit], ModelIR | None]


@dataclass
class CheckReport:
    findings: list[Finding]
    warnings: list[str] = field(default_factory=list)  # rules that could not run, expired suppressions


def run_rules(ir: ModelIR, settings: Settings, recount: Recount, today: dt.date | None = None) -> CheckReport:
    today = today or dt.date.today()
    report = CheckReport([])
    for rule_id in sorted(REGISTRY):
        rule = REGISTRY[rule_id]
        if not settings.enabled(rule_id):
            continue
        options = {**rule.defaults(), **settings.thresholds.get(rule_id, {}),
                   "train_samples": settings.train_samples}
        try:
            hits = list(rule.check(CheckContext(ir, options, recount)))
        except InputError:
            raise
        except Exception as error:  # a rule bug must not hide the other findings
            report.warnings.append(f"rule {rule_id} could not run on this model: {type(error).__name__}: {error}")
            continue
        for hit in hits:
            report.findings.append(_finding(ir, rule, hit, settings, today, recount, report.warnings))
    report.findings.sort(key=lambda f: (-f.severity.rank, f.rule, f.layers))
    return report


def _finding(ir: ModelIR, rule: Rule, hit: Hit, settings: Settings, today: dt.date, recount: Recount,
             warnings: list[str]) -> Finding:
    severity = Severity(settings.severity.get(rule.id) or hit.severity or rule.severity)
    finding = Finding(rule=rule.id, name=rule.name, severity=severity, section=rule.section,
                      layers=list(hit.layers), message=hit.message, fix=hit.fix,
                      evidence=dict(hit.evidence), edit=hit.edit, probe=rule.probe)
    if hit.edit is not None:
        finding.cost = cost_effect(ir, hit.edit, recount)
    for suppression in settings.suppress:
        if suppression.matches(rule.id, finding.layers or ["*"]):
            if suppression.expires and suppression.expires < today:
                warnings.append(f"suppression of {rule.id} at {suppression.layer!r} expired on "
                                f"{suppression.expires.isoformat()}")
                continue
            finding.suppressed = suppression.reason
    return finding


def cost_effect(ir: ModelIR, edit: Edit, recount: Recount) -> CostEffect | None:
    """Params and MACs before and after applying `edit` to the architecture."""
    after = recount(edit)
    if after is None:
        return None
    return CostEffect(ir.params, after.params, ir.macs, after.macs)
