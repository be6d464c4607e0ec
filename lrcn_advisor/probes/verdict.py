"""Verdicts: paired effects over seeds, a group-sequential t-interval, and the decision rule.

The suite looks at the paired effects after every seed from MIN_SEEDS up to the planned maximum
and stops a variant as soon as its verdict is decided. To keep the error rate under that optional
stopping, the overall alpha (5%, two-sided) is spent evenly over the planned looks (Bonferroni
alpha spending, docs/probes.md): at each look the interval has confidence 1 - alpha / looks. By the
union bound the chance that any look excludes the true effect is at most alpha, however and
whenever the suite stops.
"""
from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass

from .kinds import Check
from .train import RunRecord

from .options import MIN_SEEDS  # noqa: E402,F401  (one definition, in the light options module)
ALPHA = 0.05
SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
# the values each metric's per-seed effect can take (step_time: a relative change)
EFFECT_RANGE = {"val_accuracy": (-1.0, 1.0), "gap": (-2.0, 2.0), "step_time": (-1.0, math.inf)}


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float | None    # None with fewer than two values
    high: float | None
    n: int
    sd: float | None = None


@dataclass(frozen=True)
class Plan:
    """Looks after MIN_SEEDS, MIN_SEEDS + 1, ..., max_seeds paired seeds; alpha spent evenly.

    The plan is fixed before any run's outcome is seen: `max_seeds` is `--seeds`, or fewer when the
    budget's calibration (timing only) says fewer fit (`limit` says which), so that no alpha is spent
    on looks that cannot happen."""

    max_seeds: int
    alpha: float = ALPHA
    limit: str = "--seeds"   # what set max_seeds: "--seeds" or "the budget"

    @property
    def looks(self) -> int:
        return max(1, self.max_seeds - MIN_SEEDS + 1)

    @property
    def look_alpha(self) -> float:
        return self.alpha / self.looks

    @property
    def confidence(self) -> float:
        return 1 - self.look_alpha


def planned(most: int, seconds_left: float | None, arms: int, run_seconds: float | None) -> Plan:
    """The looks' plan, fixed from timing alone before any outcome is seen: up to `most` (--seeds)
    paired seeds, or fewer when the budget left fits fewer rounds of every arm's runs."""
    if seconds_left is None or not run_seconds or run_seconds <= 0 or most <= MIN_SEEDS:
        return Plan(most)
    fit = int(seconds_left / (max(1, arms) * run_seconds))
    return Plan(max(MIN_SEEDS, fit), limit="the budget") if fit < most else Plan(most)


# ---- Student t distribution (no SciPy): CDF from the regularised incomplete beta function ----------

def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-14:
            break
    return h


def _incomplete_beta(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def t_tail(t: float, df: int) -> float:
    """P(T > t) for Student's t with `df` degrees of freedom, t >= 0."""
    return 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


@functools.lru_cache(maxsize=4096)
def t_critical(df: int, alpha: float = ALPHA) -> float:
    """The two-sided critical value: P(|T| > value) = alpha."""
    low, high = 0.0, 1.0
    while t_tail(high, df) > alpha / 2:
        high *= 2
    for _ in range(64):
        middle = (low + high) / 2
        low, high = (middle, high) if t_tail(middle, df) > alpha / 2 else (low, middle)
    return (low + high) / 2


def interval(values: list[float], alpha: float = ALPHA, metric: str | None = None) -> Interval:
    """Mean and two-sided (1 - alpha) t confidence interval of the mean, clipped to what the
    metric's effect can take."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = statistics.fmean(values)
    if n < 2:
        return Interval(mean, None, None, n)
    sd = statistics.stdev(values)
    half = t_critical(n - 1, alpha) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    if metric in EFFECT_RANGE:
        floor, ceiling = EFFECT_RANGE[metric]
        low, high = max(low, floor), min(high, ceiling)
    return Interval(mean, low, high, n, sd)


def decide(effects: list[float], check: Check, plan: Plan | None = None) -> tuple[str, Interval | None]:
    """The verdict on one expectation from per-seed effects (variant minus baseline) at one look.

    increase / decrease: supported when the interval excludes zero on the expected side; not
    supported when it excludes an effect of `margin` or more on that side; inconclusive otherwise.
    not-worse: supported when the interval excludes a loss larger than `margin`; not supported
    when it lies entirely below -margin; inconclusive otherwise.
    """
    if not effects:
        return INCONCLUSIVE, None
    plan = plan or Plan(MIN_SEEDS)
    result = interval(effects, plan.look_alpha, check.metric)
    if result.n < MIN_SEEDS:
        return INCONCLUSIVE, result
    return _decision(result.low, result.high, check), result


def _decision(low: float, high: float, check: Check) -> str:
    sign = -1.0 if check.direction == "decrease" else 1.0
    low, high = sorted((sign * low, sign * high))
    if check.direction == "not-worse":
        if low > -check.margin:
            return SUPPORTED
        return NOT_SUPPORTED if high < -check.margin else INCONCLUSIVE
    if low > 0:
        return SUPPORTED
    return NOT_SUPPORTED if high < check.margin else INCONCLUSIVE


def seeds_to_decide(result: Interval, check: Check, alpha: float = ALPHA, limit: int = 50) -> int | None:
    """Paired seeds that would likely decide the check if the observed mean and spread held: the
    smallest n whose plan (looks MIN_SEEDS..n) gives a deciding interval; None if none up to `limit`."""
    if result.sd is None or result.n < 2:
        return None
    if result.sd == 0:
        return MIN_SEEDS
    for n in range(max(result.n + 1, MIN_SEEDS), limit + 1):
        plan = Plan(n, alpha)
        half = t_critical(n - 1, plan.look_alpha) * result.sd / math.sqrt(n)
        if _decision(result.mean - half, result.mean + half, check) != INCONCLUSIVE:
            return n
    return None


def combine(verdicts: list[str]) -> str:
    """All expectations must hold: one ruled out rules the whole out."""
    if NOT_SUPPORTED in verdicts:
        return NOT_SUPPORTED
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


def run_metric(run: RunRecord, metric: str) -> float | None:
    """step_time: the run's step time; other metrics: the mean over every evaluation in the last
    third of the run, i.e. at or after 2/3 of its steps (the learning-curve summary)."""
    if metric == "step_time":
        return run.step_time_s
    last = max((epoch.step for epoch in run.epochs), default=0)
    values = [getattr(epoch, metric) for epoch in run.epochs
              if getattr(epoch, metric) is not None and 3 * epoch.step >= 2 * last]
    return statistics.fmean(values) if values else None


def paired_effects(baseline: list[RunRecord], variant: list[RunRecord], metric: str,
                   seeds: set[int] | None = None) -> list[float]:
    """Per-seed effect of the variant: a difference, or a relative change for step_time (from the
    interleaved timing of the pair where there is one, else from the two runs' step times)."""
    base = {run.seed: run_metric(run, metric) for run in baseline if not run.error}
    effects = []
    for run in sorted(variant, key=lambda r: r.seed):
        if seeds is not None and run.seed not in seeds:
            continue
        if metric == "step_time" and run.paired_step_ratio is not None and run.seed in base and not run.error:
            effects.append(run.paired_step_ratio - 1)  # timed interleaved with the baseline of the pair
            continue
        before, after = base.get(run.seed), None if run.error else run_metric(run, metric)
        if before is None or after is None or (metric == "step_time" and before <= 0):
            continue
        effects.append(after / before - 1 if metric == "step_time" else after - before)
    return effects
