"""Run the rule catalogue over a ModelIR: findings with their fixes' cost effects.

The engine never analyses a model itself: the orchestrator hands it `recount`, which analyses an
edited architecture. It returns new values and never writes into the IR.

Every fix is re-linted: the edited architecture goes through the other rules, and the findings it
would newly get are shown beside the fix's cost. Of a hit's fixes the first that introduces none is
recommended.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from lrcn_advisor.config import Settings
from lrcn_advisor.edits import Edit, chain
from lrcn_advisor.errors import InputError
from lrcn_advisor.ir import ModelIR
from lrcn_advisor.result import CostEffect, Finding
from lrcn_advisor.vocabulary import Severity

from .base import OPPOSITES, REGISTRY, CheckContext, Hit, Rule

Recount = Callable[[Edit], ModelIR | None]
FindingKey = tuple[str, str]  # rule, first layer


@dataclass
class CheckReport:
    findings: list[Finding]
    warnings: list[str] = field(default_factory=list)  # rules that could not run, expired suppressions


def _options(rule: Rule, settings: Settings) -> dict:
    return {**rule.defaults(), **settings.thresholds.get(rule.id, {}), "train_samples": settings.train_samples}


def _hits(ir: ModelIR, settings: Settings, recount: Recount, warnings: list[str] | None):
    """(rule, hit) for every enabled rule; a rule that fails is reported in `warnings` (or skipped)."""
    for rule_id in sorted(REGISTRY):
        rule = REGISTRY[rule_id]
        if not settings.enabled(rule_id):
            continue
        try:
            hits = list(rule.check(CheckContext(ir, _options(rule, settings), recount)))
        except InputError:
            raise
        except Exception as error:  # a rule bug must not hide the other findings
            if warnings is not None:
                warnings.append(f"rule {rule_id} could not run on this model: {type(error).__name__}: {error}")
            continue
        for hit in hits:
            yield rule, hit


def _key(rule: Rule, hit: Hit) -> FindingKey:
    return rule.id, hit.layers[0] if hit.layers else ""


def relint(ir: ModelIR, settings: Settings, recount: Recount, edit: Edit) -> tuple[ModelIR, list[tuple[Rule, Hit]]] | None:
    """The edited architecture and the rules' hits on it (warnings and errors only)."""
    after = recount(edit)
    if after is None:
        return None

    def recount_after(more: Edit) -> ModelIR | None:
        return recount(chain(more.description, edit, more))

    hits = [(rule, hit) for rule, hit in _hits(after, settings, recount_after, None)
            if Severity(settings.severity.get(rule.id) or hit.severity or rule.severity).rank >= Severity.WARNING.rank]
    return after, hits


def run_rules(ir: ModelIR, settings: Settings, recount: Recount, today: dt.date | None = None) -> CheckReport:
    today = today or dt.date.today()
    report = CheckReport([])
    found = list(_hits(ir, settings, recount, report.warnings))
    present = {_key(rule, hit) for rule, hit in found}
    for rule, hit in found:
        report.findings.append(_finding(ir, rule, hit, settings, today, recount, present, report.warnings))
    report.findings.sort(key=lambda f: (-f.severity.rank, f.rule, f.layers))
    return report


def _introduced(ir: ModelIR, settings: Settings, recount: Recount, edit: Edit, present: set[FindingKey]):
    """(edited IR, descriptions of the findings the edit would newly bring), or None."""
    done = relint(ir, settings, recount, edit)
    if done is None:
        return None
    after, hits = done
    new = [(rule.id, f"{rule.id} fire at {', '.join(f'`{n}`' for n in hit.layers[:3]) or 'the model'}: {hit.message}")
           for rule, hit in hits if _key(rule, hit) not in present and rule.id not in {k[0] for k in present}]
    return after, new


def _finding(ir: ModelIR, rule: Rule, hit: Hit, settings: Settings, today: dt.date, recount: Recount,
             present: set[FindingKey], warnings: list[str]) -> Finding:
    severity = Severity(settings.severity.get(rule.id) or hit.severity or rule.severity)
    fix, edit = hit.fix, hit.edit
    cost = None
    if edit is not None:
        options = [(hit.fix, hit.edit), *hit.alternatives]
        tried = []
        for text, candidate in options:
            done = _introduced(ir, settings, recount, candidate, present)
            if done is None:
                continue
            tried.append((text, candidate, *done))
            if not done[1]:
                break
        if tried:
            # prefer a fix that trips no rule, then one that trips no rule pulling the other way
            opposite = OPPOSITES.get(rule.id, frozenset())
            tried.sort(key=lambda t: (bool(t[3]), any(rule_id in opposite for rule_id, _ in t[3])))
            fix, edit, after, introduced = tried[0]
            if any(rule_id in opposite for rule_id, _ in introduced):
                fix = f"{fix} (a trade-off: no fix found that other rules accept)"
            cost = CostEffect(ir.params, after.params, ir.macs, after.macs, [text for _, text in introduced],
                              _saving_from(ir, after, hit.layers))
    finding = Finding(rule=rule.id, name=rule.name, severity=severity, section=rule.section,
                      layers=list(hit.layers), message=hit.message, fix=fix,
                      evidence=dict(hit.evidence), edit=edit, probe=rule.probe, cost=cost)
    for suppression in settings.suppress:
        if suppression.matches(rule.id, finding.layers or ["*"]):
            if suppression.expires and suppression.expires < today:
                warnings.append(f"suppression of {rule.id} at {suppression.layer!r} expired on "
                                f"{suppression.expires.isoformat()}")
                continue
            finding.suppressed = suppression.reason
    return finding


def _saving_from(ir: ModelIR, after: ModelIR, own: list[str]) -> str:
    """Name the layer that saves the most parameters, when it is not one the finding is about."""
    after_params = {layer.name: layer.params for layer in after.layers}
    savings = {layer.name: layer.params - after_params[layer.name] for layer in ir.layers
               if layer.name in after_params}
    if not savings:
        return ""
    name, saved = max(savings.items(), key=lambda item: item[1])
    if saved <= 0 or name in own or saved < (ir.params - after.params) / 2:
        return ""
    layer = ir.layer(name)
    return f"most of the saving is at `{name}` ({layer.inner_kind_class}), whose input shrinks"


def cost_effect(ir: ModelIR, edit: Edit, recount: Recount) -> CostEffect | None:
    """Params and MACs before and after applying `edit` to the architecture."""
    after = recount(edit)
    if after is None:
        return None
    return CostEffect(ir.params, after.params, ir.macs, after.macs)
