"""A/A calibration: how often the sequential design calls a copy of the baseline "supported".

`train_pairs` trains the baseline and a copy of it (the same architecture, its own initialisation
seeds, the common data order of each pair) for many seeds with the probes' own `run_task`.
`false_support` then replays the suite's sequential procedure on random orderings of those pairs:
looks after MIN_SEEDS..max_seeds seeds, stopping at the first decided look, exactly as the suite
does. Each replication uses distinct pairs; replications share pairs, so the rate's spread is wider
than a binomial one over as many independent sweeps.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .kinds import Check
from .train import TIMING_SHARE, RunRecord, Task, interleaved_ratio, run_task
from .verdict import INCONCLUSIVE, MIN_SEEDS, SUPPORTED, Plan, decide, paired_effects


@dataclass(frozen=True)
class Rate:
    check: Check
    replications: int
    supported: int
    decided: int
    mean_seeds: float

    @property
    def false_support(self) -> float:
        return self.supported / self.replications


def train_pairs(template: Task, pairs: int, timed: bool = True) -> tuple[list[RunRecord], list[RunRecord]]:
    """(baseline runs, copy runs) for seeds 0..pairs-1; `template` names the graph and the budget.
    `timed`: time each pair interleaved, as the suite does for variants with a step-time check."""
    baseline, copy = [], []
    for seed in range(pairs):
        first, second = replace(template, variant="baseline", seed=seed), replace(template, variant="copy", seed=seed)
        baseline.append(run_task(first))
        copy.append(run_task(second))
        if timed and not baseline[-1].error and not copy[-1].error:
            copy[-1].paired_step_ratio = interleaved_ratio(first, second, TIMING_SHARE * copy[-1].train_s)  # as the suite does
    return baseline, copy


def false_support(baseline: list[RunRecord], copy: list[RunRecord], check: Check, plan: Plan,
                  replications: int, seed: int = 0) -> Rate:
    effects = paired_effects(baseline, copy, check.metric)
    if len(effects) < plan.max_seeds:
        raise ValueError(f"{len(effects)} pairs cannot fill a plan of {plan.max_seeds} seeds")
    rng = np.random.default_rng(seed)
    supported = decided = 0
    used = []
    for _ in range(replications):
        order = rng.permutation(len(effects))[:plan.max_seeds]
        sequence = [effects[i] for i in order]
        verdict, n = INCONCLUSIVE, plan.max_seeds
        for n in range(MIN_SEEDS, plan.max_seeds + 1):
            verdict, _ = decide(sequence[:n], check, plan)
            if verdict != INCONCLUSIVE:
                break
        supported += verdict == SUPPORTED
        decided += verdict != INCONCLUSIVE
        used.append(n)
    return Rate(check, replications, supported, decided, float(np.mean(used)))
