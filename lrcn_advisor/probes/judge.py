"""Turn the runs of a suite into verdicts with their effect sizes, costs and explanations."""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

from ..ir import GraphSpec
from .kinds import BETTER_ACCURACY, PROBE_KINDS, SAME_ACCURACY, Check
from .report import Verdict
from .train import RunRecord
from .variants import Unprobed, Variant, probe_kind
from .verdict import (INCONCLUSIVE, MIN_SEEDS, NOT_SUPPORTED, SUPPORTED, Interval, Plan, combine, decide,
                      interval, paired_effects, seeds_to_decide)

LABELS = {"val_accuracy": "validation accuracy", "gap": "generalisation gap", "step_time": "step time"}
OUTCOMES = {SUPPORTED: "the expected change was measured",
            NOT_SUPPORTED: "the measurements rule out the expected change"}
# why a variant stopped taking seeds (the suite's side of an inconclusive verdict)
STOP_BUDGET, STOP_MAX_SEEDS, STOP_DECIDED = "budget", "max-seeds", "decided"


@dataclass(frozen=True)
class Question:
    """One verdict to give: a rule's findings (all fixed together by the variant) or a guide question."""

    rule: str
    layers: list[str]
    checks: tuple[Check, ...]
    gradients: bool


def questions(baseline: Variant, variant: Variant) -> list[Question]:
    asked = []
    rules: dict[str, list[str]] = {}
    for finding in variant.findings:
        rules.setdefault(finding.rule, [])
        rules[finding.rule] += [name for name in finding.layers if name not in rules[finding.rule]]
    for rule, layers in rules.items():
        name = probe_kind(next(f for f in variant.findings if f.rule == rule))
        asked.append(Question(rule, layers, PROBE_KINDS[name].checks, name == "lstm-depth"))
    if variant.kind is not None:
        asked.append(Question(f"case:{variant.id}", changed_layers(baseline.graph, variant.graph),
                              PROBE_KINDS[variant.kind].checks, False))
    if variant.question:
        check = SAME_ACCURACY if variant.id == "lstm-shallower" else BETTER_ACCURACY
        asked.append(Question(f"guide:{variant.question}", changed_layers(baseline.graph, variant.graph), (check,),
                              variant.question == "lstm-depth"))
    return asked


def outcome(question: Question, base_runs: list[RunRecord], var_runs: list[RunRecord], plan: Plan) -> str:
    """The verdict on one question at the current look."""
    return combine([decide(paired_effects(base_runs, var_runs, check.metric), check, plan)[0]
                    for check in question.checks])


def judge(variants: list[Variant], runs: dict[str, list[RunRecord]], unprobed: list[Unprobed],
          context: str, plan: Plan, stops: dict[str, str] | None = None,
          seed_seconds: dict[str, float] | None = None) -> list:
    """One verdict per probed rule and per guide question; `context` ends every explanation.
    `stops` says why each variant stopped taking seeds; `seed_seconds` the measured wall time of one
    more paired seed of each variant (its run and the baseline's)."""
    baseline = variants[0]
    verdicts = []
    for variant in variants[1:]:
        for question in questions(baseline, variant):
            verdicts.append(_verdict(question, baseline, variant, runs, context, plan, (stops or {}).get(variant.id),
                                     (seed_seconds or {}).get(variant.id)))
    for item in unprobed:
        kind = PROBE_KINDS[probe_kind(item.finding)]
        verdicts.append(Verdict(item.finding.rule, item.finding.layers, None, INCONCLUSIVE, kind.metric, None,
                                None, None, 0, {}, f"Not probed: {item.reason}.", why="not-probed",
                                why_text=f"not probed: {item.reason}"))
    return _merge_unprobed(verdicts)


def _merge_unprobed(verdicts: list[Verdict]) -> list[Verdict]:
    """One not-probed verdict per rule, with all its layers."""
    merged: list[Verdict] = []
    for verdict in verdicts:
        same = next((v for v in merged if v.why == "not-probed" and verdict.why == "not-probed"
                     and v.rule == verdict.rule and v.explanation == verdict.explanation), None)
        if same is None:
            merged.append(verdict)
        else:
            same.layers += [name for name in verdict.layers if name not in same.layers]
    return merged


def changed_layers(before: GraphSpec, after: GraphSpec) -> list[str]:
    """Layers added, removed or reconfigured (rewired inputs alone do not count)."""
    def shape(spec):
        return {key: value for key, value in asdict(spec).items() if key != "calls"}
    old, new = ({spec.name: shape(spec) for spec in graph.layers} for graph in (before, after))
    return sorted(set(old) ^ set(new) | {name for name in old.keys() & new.keys() if old[name] != new[name]})


def _verdict(question: Question, baseline: Variant, variant: Variant, runs: dict[str, list[RunRecord]],
             context: str, plan: Plan, stop: str | None, seed_seconds: float | None) -> Verdict:
    base_runs, var_runs = runs.get(baseline.id, []), runs.get(variant.id, [])
    results = [(check, *decide(paired_effects(base_runs, var_runs, check.metric), check, plan))
               for check in question.checks]
    verdict = combine([outcome for _, outcome, _ in results])
    _, _, primary = results[0]
    parts = [_describe(check, result, plan) for check, _, result in results if result is not None]
    speed = _step_time(base_runs, var_runs, plan)
    if speed is not None and all(check.metric != "step_time" for check in question.checks):
        parts.append(_describe(Check("step_time", "decrease", 0.0), speed, plan))
    why, why_text, needed = "", "", None
    if verdict == INCONCLUSIVE:
        why, why_text, needed = _undecided(results, var_runs, plan, stop)
    extra = _gradients(baseline, variant, base_runs, var_runs) if question.gradients else ""
    because = OUTCOMES.get(verdict) or why_text
    if needed is not None and seed_seconds:
        because += f"; about {needed} paired seeds (a budget of ~{_minutes(needed * seed_seconds)} here) would likely decide it"
    elif verdict == INCONCLUSIVE and needed is None and primary is not None and primary.sd is not None:
        because += "; at the observed effect and spread no budget up to 50 paired seeds is likely to decide it"
    explanation = f"{variant.edit}: {'; '.join(parts) or 'no paired runs'}{extra} -> {verdict}: {because}. {context}"
    return Verdict(question.rule, list(question.layers), variant.id, verdict, question.checks[0].metric,
                   _round(primary.mean if primary else None), _round(primary.low if primary else None),
                   _round(primary.high if primary else None), primary.n if primary else 0,
                   _cost(baseline, variant, base_runs, var_runs), explanation,
                   confidence=round(plan.confidence, 5),
                   step_time_change=None if speed is None else {
                       "mean": _round(speed.mean), "ci_low": _round(speed.low), "ci_high": _round(speed.high)},
                   why=why, why_text=why_text, seeds_needed=needed,
                   checks=[{"metric": check.metric, "direction": check.direction, "margin": check.margin,
                            "verdict": outcome, "mean": _round(result.mean if result else None),
                            "ci_low": _round(result.low if result else None),
                            "ci_high": _round(result.high if result else None), "n": result.n if result else 0}
                           for check, outcome, result in results],
                   budget_needed_s=round(needed * seed_seconds, 1) if needed and seed_seconds else None)


def _step_time(base_runs, var_runs, plan: Plan) -> Interval | None:
    effects = paired_effects(base_runs, var_runs, "step_time")
    return interval(effects, plan.look_alpha, "step_time") if effects else None


def _describe(check: Check, result: Interval, plan: Plan) -> str:
    label = LABELS[check.metric]
    level = f"{plan.confidence:.1%}".replace(".0%", "%")
    if check.metric == "step_time":
        text = f"{label} {result.mean:+.0%}"
        interval_text = f"{result.low:+.0%} to {result.high:+.0%}" if result.low is not None else ""
    else:
        text = f"{label} {result.mean:+.3f}"
        interval_text = f"{result.low:+.3f} to {result.high:+.3f}" if result.low is not None else ""
    seeds = f"{result.n} paired seed{'s' if result.n != 1 else ''}"
    return f"{text} ({level + ' CI ' + interval_text + ', ' if interval_text else ''}{seeds})"


def _undecided(results, var_runs: list[RunRecord], plan: Plan, stop: str | None) -> tuple[str, str, int | None]:
    """(reason code, words, paired seeds likely to decide) for an inconclusive verdict."""
    errors = [run.error for run in var_runs if run.error]
    _, _, primary = results[0]
    if primary is None:
        if errors:
            return "failed", f"no run of the variant finished ({errors[0]})", None
        if stop == STOP_BUDGET:
            return "budget", "the budget ran out before a paired run of this variant finished", None
        return "failed", "no paired runs", None
    undecided = [(check, result) for check, verdict, result in results if verdict == INCONCLUSIVE and result]
    needed = [seeds_to_decide(result, check, plan.alpha) for check, result in undecided]
    likely = None if not needed or None in needed else max(needed)
    if primary.n < MIN_SEEDS:
        cause = "budget" if stop == STOP_BUDGET else "too-few-seeds"
        text = (f"too few seeds: a verdict needs at least {MIN_SEEDS} paired seeds, {primary.n} finished"
                + (" before the budget ran out" if stop == STOP_BUDGET else ""))
        return cause, text, likely
    if stop == STOP_BUDGET:
        return "budget", (f"budget exhausted after {primary.n} paired seeds; the interval still spans the "
                          "margin"), likely
    if stop == STOP_MAX_SEEDS:
        return "max-seeds", (f"all {primary.n} planned paired seeds ran (the plan's most, set by {plan.limit}); "
                             "the interval still spans the margin"), likely
    return "spans-margin", "the interval spans the margin", likely


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f}m" if seconds >= 90 else f"{seconds:.0f}s"


def _gradients(baseline: Variant, variant: Variant, base_runs, var_runs) -> str:
    """The gradient norm at the first recurrent layer, variant against baseline (final evaluation)."""
    first = next((layer.name for layer in baseline.ir.layers if layer.kind == "recurrent"), None)
    ratios = []
    for run in var_runs:
        base = next((b for b in base_runs if b.seed == run.seed and b.epochs), None)
        if base is None or not run.epochs:
            continue
        before, after = base.epochs[-1].grad_norms.get(first), run.epochs[-1].grad_norms.get(first)
        if before and after is not None:
            ratios.append(after / before)
    return f"; gradient norm at `{first}` x{statistics.fmean(ratios):.2f}" if ratios else ""


def _cost(baseline: Variant, variant: Variant, base_runs, var_runs) -> dict:
    ratios = [1 + effect for effect in paired_effects(base_runs, var_runs, "step_time")]
    return {"params": variant.ir.params - baseline.ir.params, "macs": variant.ir.macs - baseline.ir.macs,
            "step_time_ratio": round(statistics.fmean(ratios), 4) if ratios else None}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
