"""Turn the runs of a suite into verdicts with their effect sizes, costs and explanations."""
from __future__ import annotations

import statistics
from dataclasses import asdict

from ..ir import GraphSpec
from .kinds import BETTER_ACCURACY, PROBE_KINDS, SAME_ACCURACY, Check
from .report import Verdict
from .train import RunRecord
from .variants import Unprobed, Variant, probe_kind
from .verdict import INCONCLUSIVE, MIN_SEEDS, NOT_SUPPORTED, SUPPORTED, combine, decide, paired_effects

LABELS = {"val_accuracy": "validation accuracy", "gap": "generalisation gap", "step_time": "step time"}
OUTCOMES = {SUPPORTED: "the expected change was measured",
            NOT_SUPPORTED: "the measurements rule out the expected change"}


def judge(variants: list[Variant], runs: dict[str, list[RunRecord]], unprobed: list[Unprobed],
          context: str) -> list:
    """One verdict per probed finding and per guide question; `context` ends every explanation."""
    baseline = variants[0]
    verdicts = []
    for variant in variants[1:]:
        for finding in variant.findings:
            name = probe_kind(finding)
            verdicts.append(_verdict(finding.rule, finding.layers, PROBE_KINDS[name].checks, baseline, variant,
                                     runs, context, gradients=name == "lstm-depth"))
        if variant.question:
            check = SAME_ACCURACY if variant.id == "lstm-shallower" else BETTER_ACCURACY
            verdicts.append(_verdict(f"guide:{variant.question}", changed_layers(baseline.graph, variant.graph),
                                     (check,), baseline, variant, runs, context,
                                     gradients=variant.question == "lstm-depth"))
    for item in unprobed:
        kind = PROBE_KINDS[probe_kind(item.finding)]
        verdicts.append(Verdict(item.finding.rule, item.finding.layers, None, INCONCLUSIVE, kind.metric, None,
                                None, None, 0, {}, f"Not probed: {item.reason}."))
    return verdicts


def changed_layers(before: GraphSpec, after: GraphSpec) -> list[str]:
    """Layers added, removed or reconfigured (rewired inputs alone do not count)."""
    def shape(spec):
        return {key: value for key, value in asdict(spec).items() if key != "calls"}
    old, new = ({spec.name: shape(spec) for spec in graph.layers} for graph in (before, after))
    return sorted(set(old) ^ set(new) | {name for name in old.keys() & new.keys() if old[name] != new[name]})


def _verdict(rule: str, layers: list[str], checks: tuple[Check, ...], baseline: Variant, variant: Variant,
             runs: dict[str, list[RunRecord]], context: str, gradients: bool) -> Verdict:
    base_runs, var_runs = runs.get(baseline.id, []), runs.get(variant.id, [])
    results = [(check, *decide(paired_effects(base_runs, var_runs, check.metric), check)) for check in checks]
    verdict = combine([outcome for _, outcome, _ in results])
    _, _, primary = results[0]
    parts = [_describe(check, result) for check, _, result in results if result is not None]
    why = OUTCOMES.get(verdict) or _undecided(primary, var_runs)
    extra = _gradients(baseline, variant, base_runs, var_runs) if gradients else ""
    explanation = f"{variant.edit}: {'; '.join(parts) or 'no paired runs'}{extra} -> {verdict}: {why}. {context}"
    return Verdict(rule, list(layers), variant.id, verdict, checks[0].metric,
                   _round(primary.mean if primary else None), _round(primary.low if primary else None),
                   _round(primary.high if primary else None), primary.n if primary else 0,
                   _cost(baseline, variant, base_runs, var_runs), explanation)


def _describe(check: Check, result) -> str:
    label = LABELS[check.metric]
    if check.metric == "step_time":
        text = f"{label} {result.mean:+.0%}"
        interval = f"{result.low:+.0%} to {result.high:+.0%}" if result.low is not None else ""
    else:
        text = f"{label} {result.mean:+.3f}"
        interval = f"{result.low:+.3f} to {result.high:+.3f}" if result.low is not None else ""
    seeds = f"{result.n} seed{'s' if result.n != 1 else ''}"
    return f"{text} ({'95% CI ' + interval + ', ' if interval else ''}{seeds})"


def _undecided(primary, var_runs: list[RunRecord]) -> str:
    errors = [run.error for run in var_runs if run.error]
    if primary is None:
        return f"no run of the variant finished ({errors[0]})" if errors else "no paired runs"
    if primary.n < MIN_SEEDS:
        return f"a verdict needs at least {MIN_SEEDS} seeds, {primary.n} finished"
    return "the interval is too wide to decide; more seeds or a larger budget may settle it"


def _gradients(baseline: Variant, variant: Variant, base_runs, var_runs) -> str:
    """The gradient norm at the first recurrent layer, variant against baseline (last epoch)."""
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
