"""Verdicts: paired effects over seeds, a t-interval, and the decision rule (docs/probes.md)."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from .kinds import Check
from .train import RunRecord

MIN_SEEDS = 3
SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
# two-sided 95% Student t critical values by degrees of freedom; between rows the smaller df is used
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
       10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
       18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float | None    # None with fewer than two values
    high: float | None
    n: int


def t_critical(df: int) -> float:
    return T95[max(key for key in T95 if key <= df)]


def interval(values: list[float]) -> Interval:
    """Mean and two-sided 95% t confidence interval of the mean."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = statistics.fmean(values)
    if n < 2:
        return Interval(mean, None, None, n)
    half = t_critical(n - 1) * statistics.stdev(values) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def decide(effects: list[float], check: Check) -> tuple[str, Interval | None]:
    """The verdict on one expectation from per-seed effects (variant minus baseline).

    increase / decrease: supported when the interval excludes zero on the expected side; not
    supported when it excludes an effect of `margin` or more on that side; inconclusive otherwise.
    not-worse: supported when the interval excludes a loss larger than `margin`; not supported
    when it lies entirely below -margin; inconclusive otherwise.
    """
    if not effects:
        return INCONCLUSIVE, None
    result = interval(effects)
    if result.n < MIN_SEEDS:
        return INCONCLUSIVE, result
    sign = -1.0 if check.direction == "decrease" else 1.0
    low, high = sorted((sign * result.low, sign * result.high))
    if check.direction == "not-worse":
        if low > -check.margin:
            return SUPPORTED, result
        return (NOT_SUPPORTED if high < -check.margin else INCONCLUSIVE), result
    if low > 0:
        return SUPPORTED, result
    return (NOT_SUPPORTED if high < check.margin else INCONCLUSIVE), result


def combine(verdicts: list[str]) -> str:
    """All expectations must hold: one ruled out rules the whole out."""
    if NOT_SUPPORTED in verdicts:
        return NOT_SUPPORTED
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


def run_metric(run: RunRecord, metric: str) -> float | None:
    """step_time: the run's median step; other metrics: the mean over the last third of the epochs."""
    if metric == "step_time":
        return run.step_time_s
    values = [getattr(epoch, metric) for epoch in run.epochs if getattr(epoch, metric) is not None]
    if not values:
        return None
    return statistics.fmean(values[-max(1, math.ceil(len(values) / 3)):])


def paired_effects(baseline: list[RunRecord], variant: list[RunRecord], metric: str) -> list[float]:
    """Per-seed effect of the variant: a difference, or a relative change for step_time."""
    base = {run.seed: run_metric(run, metric) for run in baseline if not run.error}
    effects = []
    for run in variant:
        before, after = base.get(run.seed), None if run.error else run_metric(run, metric)
        if before is None or after is None or (metric == "step_time" and before <= 0):
            continue
        effects.append(after / before - 1 if metric == "step_time" else after - before)
    return effects
