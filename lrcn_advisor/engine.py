"""Run the rule catalogue over a ModelIR: findings with their fixes' cost effects."""
from __future__ import annotations

import datetime as dt

from lrcn_advisor.rules import REGISTRY, Rule

from .analyze import RecountBudget, reanalyse
from .config import Settings
from .errors import InputError
from .ir import ModelIR
from .result import CostEffect, Finding

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def run_rules(ir: ModelIR, settings: Settings, today: dt.date | None = None) -> list[Finding]:
    today = today or dt.date.today()
    findings: list[Finding] = []
    budget = RecountBudget(ir)
    for rule_id in sorted(REGISTRY):
        rule = REGISTRY[rule_id]
        if not settings.enabled(rule_id):
            continue
        options = {**rule.defaults(), **settings.thresholds.get(rule_id, {}),
                   "train_samples": settings.train_samples}
        try:
            hits = list(rule.check(ir, options))
        except InputError:
            raise
        except Exception as error:  # a rule bug must not hide the other findings
            ir.warnings.append(f"rule {rule_id} could not run on this model: {type(error).__name__}: {error}")
            continue
        for hit in hits:
            findings.append(_finding(ir, rule, hit, settings, today, budget))
    if budget.warning():
        ir.warnings.append(budget.warning())
    findings.sort(key=lambda f: (SEVERITY_ORDER[f.severity], f.rule, f.layers))
    return findings


def _finding(ir: ModelIR, rule: Rule, hit, settings: Settings, today: dt.date,
             budget: RecountBudget | None = None) -> Finding:
    severity = settings.severity.get(rule.id) or hit.severity or rule.severity
    finding = Finding(rule=rule.id, name=rule.name, severity=severity, block=rule.block,
                      layers=list(hit.layers), message=hit.message, fix=hit.fix,
                      evidence=dict(hit.evidence), edit=hit.edit, probe=rule.probe)
    if hit.edit is not None and (budget is None or budget.take()):
        finding.cost = cost_effect(ir, hit.edit)
    for suppression in settings.suppress:
        if suppression.matches(rule.id, finding.layers or ["*"]):
            if suppression.expires and suppression.expires < today:
                ir.warnings.append(f"suppression of {rule.id} at {suppression.layer!r} expired on "
                                   f"{suppression.expires.isoformat()}")
                continue
            finding.suppressed = suppression.reason
    return finding


def cost_effect(ir: ModelIR, edit) -> CostEffect | None:
    """Params and MACs before and after applying `edit` to the architecture."""
    try:
        after = reanalyse(ir, edit(ir.graph))
    except (InputError, KeyError, ValueError):
        return None
    return CostEffect(ir.params, after.params, ir.macs, after.macs)
